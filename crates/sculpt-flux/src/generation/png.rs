//! A frame as a PNG file, with how it was made in text chunks (prompt,
//! seed, steps, model), so that a saved image says how to make it again.

use super::Frame;

#[derive(Debug, thiserror::Error)]
#[error("cannot encode the image as PNG: {0}")]
pub struct PngError(String);

impl Frame {
    /// The frame as PNG bytes, RGBA 8-bit, with one tEXt chunk per
    /// `(keyword, text)` (keywords of 1–79 Latin-1 characters).
    pub fn to_png(&self, text: &[(&str, String)]) -> Result<Vec<u8>, PngError> {
        let mut bytes = Vec::new();
        let error = |e: png::EncodingError| PngError(e.to_string());
        let mut encoder = png::Encoder::new(&mut bytes, self.width as u32, self.height as u32);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        for (keyword, value) in text {
            encoder
                .add_text_chunk(keyword.to_string(), value.clone())
                .map_err(error)?;
        }
        let mut writer = encoder.write_header().map_err(error)?;
        writer.write_image_data(&self.rgba).map_err(error)?;
        writer.finish().map_err(error)?;
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixels_and_text_survive_a_round_trip() {
        let frame = Frame {
            width: 3,
            height: 2,
            rgba: (0..24).map(|i| (i * 10) as u8).collect(),
        };
        let bytes = frame
            .to_png(&[("prompt", "a red circle".into()), ("seed", "7".into())])
            .unwrap();
        let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
            .read_info()
            .unwrap();
        let text: Vec<_> = reader
            .info()
            .uncompressed_latin1_text
            .iter()
            .map(|chunk| (chunk.keyword.clone(), chunk.text.clone()))
            .collect();
        assert_eq!(
            text,
            [
                ("prompt".to_string(), "a red circle".to_string()),
                ("seed".to_string(), "7".to_string())
            ]
        );
        let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
        reader.next_frame(&mut pixels).unwrap();
        assert_eq!(pixels, frame.rgba);
    }
}
