//! A frame as a PNG file, with how it was made in text chunks (prompt,
//! seed, steps, model), so that a saved image says how to make it again.

use super::Frame;

#[derive(Debug, thiserror::Error)]
#[error("cannot encode the image as PNG: {0}")]
pub struct PngError(String);

/// Why a PNG could not be read as a start image; the message names the
/// file.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {detail}")]
pub struct PngReadError {
    pub file: String,
    pub detail: String,
}

/// The most pixels a PNG read as a start image may have (4096 × 4096, a
/// 64 MiB RGBA frame): larger images are refused from their header, before
/// anything the size of the image is allocated.
pub const MAX_PNG_PIXELS: u64 = 4096 * 4096;

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

impl Frame {
    /// Reads a PNG (8- or 16-bit RGB, RGBA, grey or grey-alpha; palettes
    /// expanded) as RGBA8. `file` names it in errors.
    pub fn from_png(file: &str, bytes: &[u8]) -> Result<Frame, PngReadError> {
        let invalid = |detail: String| PngReadError {
            file: file.to_string(),
            detail,
        };
        let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
        let mut reader = decoder
            .read_info()
            .map_err(|e| invalid(format!("not a PNG ({e})")))?;
        let (width, height) = (reader.info().width, reader.info().height);
        if u64::from(width) * u64::from(height) > MAX_PNG_PIXELS {
            return Err(invalid(format!(
                "{width} × {height} pixels is more than a start image may have ({MAX_PNG_PIXELS})"
            )));
        }
        let size = reader
            .output_buffer_size()
            .ok_or_else(|| invalid("the PNG is too large".into()))?;
        let mut buffer = vec![0; size];
        let info = reader
            .next_frame(&mut buffer)
            .map_err(|e| invalid(format!("cannot decode it ({e})")))?;
        let pixels = &buffer[..info.buffer_size()];
        let rgba: Vec<u8> = match info.color_type {
            png::ColorType::Rgba => pixels.to_vec(),
            png::ColorType::Rgb => pixels
                .chunks_exact(3)
                .flat_map(|p| [p[0], p[1], p[2], 255])
                .collect(),
            png::ColorType::Grayscale => pixels.iter().flat_map(|&g| [g, g, g, 255]).collect(),
            png::ColorType::GrayscaleAlpha => pixels
                .chunks_exact(2)
                .flat_map(|p| [p[0], p[0], p[0], p[1]])
                .collect(),
            other => {
                return Err(invalid(format!(
                    "PNG color type {other:?} is not supported"
                )));
            }
        };
        let (width, height) = (info.width as usize, info.height as usize);
        if rgba.len() != width * height * 4 {
            return Err(invalid(format!(
                "its pixels do not fill {width} × {height} (bit depth {:?})",
                info.bit_depth
            )));
        }
        Ok(Frame {
            width,
            height,
            rgba,
        })
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
        let back = Frame::from_png("round.png", &frame.to_png(&[]).unwrap()).unwrap();
        assert_eq!(back, frame);
    }

    #[test]
    fn grey_pixels_expand_to_rgba() {
        let mut bytes = Vec::new();
        let mut encoder = png::Encoder::new(&mut bytes, 2, 1);
        encoder.set_color(png::ColorType::GrayscaleAlpha);
        let mut writer = encoder.write_header().unwrap();
        writer.write_image_data(&[10, 200, 30, 255]).unwrap();
        writer.finish().unwrap();
        let frame = Frame::from_png("grey.png", &bytes).unwrap();
        assert_eq!(frame.rgba, [10, 10, 10, 200, 30, 30, 30, 255]);
    }

    #[test]
    fn a_header_claiming_a_huge_image_is_refused_before_decoding() {
        let mut bytes = Frame {
            width: 1,
            height: 1,
            rgba: vec![0; 4],
        }
        .to_png(&[])
        .unwrap();
        // IHDR's width and height (bytes 16..24), and its CRC (29..33).
        bytes[16..24].copy_from_slice(&[0, 0, 0xff, 0xff, 0, 0, 0xff, 0xff]);
        let crc = crc32(&bytes[12..29]);
        bytes[29..33].copy_from_slice(&crc.to_be_bytes());
        let error = Frame::from_png("huge.png", &bytes).unwrap_err().to_string();
        assert!(
            error.starts_with("huge.png: 65535 × 65535 pixels is more than"),
            "{error}"
        );
        let error = Frame::from_png("text.png", b"not a png")
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("text.png: not a PNG"), "{error}");
    }

    /// PNG's CRC-32 (ISO 3309), bit by bit.
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &byte in bytes {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
}
