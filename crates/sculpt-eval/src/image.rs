//! An RGB8 image, the eval's unit of work, and its PNG form.

use std::path::Path;

use anyhow::{Context, bail};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RgbImage {
    pub width: usize,
    pub height: usize,
    /// Row-major RGB triples.
    pub pixels: Vec<[u8; 3]>,
}

impl RgbImage {
    pub fn filled(width: usize, height: usize, rgb: [u8; 3]) -> Self {
        Self {
            width,
            height,
            pixels: vec![rgb; width * height],
        }
    }

    /// From RGBA8 bytes (the pipeline's frames); alpha is dropped, the frames are opaque.
    pub fn from_rgba(width: usize, height: usize, rgba: &[u8]) -> Self {
        assert_eq!(rgba.len(), width * height * 4, "RGBA8 of {width}x{height}");
        Self {
            width,
            height,
            pixels: rgba.chunks_exact(4).map(|p| [p[0], p[1], p[2]]).collect(),
        }
    }

    /// As opaque RGBA8 bytes (an init image for the pipeline).
    pub fn to_rgba(&self) -> Vec<u8> {
        self.pixels
            .iter()
            .flat_map(|&[r, g, b]| [r, g, b, 255])
            .collect()
    }

    pub fn get(&self, x: usize, y: usize) -> [u8; 3] {
        self.pixels[y * self.width + x]
    }

    pub fn set(&mut self, x: usize, y: usize, rgb: [u8; 3]) {
        self.pixels[y * self.width + x] = rgb;
    }

    /// Copies `other` with its top left corner at (x, y).
    pub fn paste(&mut self, other: &RgbImage, x: usize, y: usize) {
        for row in 0..other.height {
            for col in 0..other.width {
                self.set(x + col, y + row, other.get(col, row));
            }
        }
    }

    /// The tile of `width` x `height` at (x, y).
    pub fn crop(&self, x: usize, y: usize, width: usize, height: usize) -> RgbImage {
        let mut out = RgbImage::filled(width, height, [0; 3]);
        for row in 0..height {
            for col in 0..width {
                out.set(col, row, self.get(x + col, y + row));
            }
        }
        out
    }

    /// A 3×3 box blur (edges averaged over the pixels inside), `times` over.
    pub fn box_blurred(&self, times: usize) -> RgbImage {
        let (w, h) = (self.width, self.height);
        let mut out = self.clone();
        for _ in 0..times {
            let from = out.clone();
            for y in 0..h {
                for x in 0..w {
                    let (mut sum, mut n) = ([0u32; 3], 0);
                    for ny in y.saturating_sub(1)..(y + 2).min(h) {
                        for nx in x.saturating_sub(1)..(x + 2).min(w) {
                            let p = from.get(nx, ny);
                            (0..3).for_each(|c| sum[c] += u32::from(p[c]));
                            n += 1;
                        }
                    }
                    out.set(x, y, sum.map(|s| ((s + n / 2) / n) as u8));
                }
            }
        }
        out
    }

    pub fn write_png(&self, path: &Path) -> anyhow::Result<()> {
        let file = std::fs::File::create(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        let mut encoder = png::Encoder::new(
            std::io::BufWriter::new(file),
            self.width as u32,
            self.height as u32,
        );
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(self.pixels.as_flattened())?;
        Ok(())
    }

    /// Reads an 8-bit RGB or RGBA PNG (alpha dropped).
    pub fn read_png(path: &Path) -> anyhow::Result<RgbImage> {
        let file =
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
        decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
        let mut reader = decoder.read_info()?;
        let mut buffer = vec![0; reader.output_buffer_size().context("PNG too large")?];
        let info = reader.next_frame(&mut buffer)?;
        let (width, height) = (info.width as usize, info.height as usize);
        let bytes = &buffer[..info.buffer_size()];
        let pixels = match info.color_type {
            png::ColorType::Rgb => bytes.chunks_exact(3).map(|p| [p[0], p[1], p[2]]).collect(),
            png::ColorType::Rgba => bytes.chunks_exact(4).map(|p| [p[0], p[1], p[2]]).collect(),
            other => bail!("{}: PNG colour type {other:?} is not RGB", path.display()),
        };
        Ok(RgbImage {
            width,
            height,
            pixels,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_round_trip_keeps_pixels() {
        let mut image = RgbImage::filled(5, 3, [1, 2, 3]);
        image.set(4, 2, [250, 0, 7]);
        let path = std::env::temp_dir().join(format!("sculpt-eval-{}.png", std::process::id()));
        image.write_png(&path).unwrap();
        let back = RgbImage::read_png(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(back, image);
    }

    #[test]
    fn box_blur_spreads_a_dot_and_keeps_flat_areas() {
        let mut image = RgbImage::filled(5, 5, [90, 90, 90]);
        image.set(2, 2, [180, 90, 0]);
        let blurred = image.box_blurred(1);
        assert_eq!(blurred.get(2, 2), [100, 90, 80]);
        assert_eq!(blurred.get(1, 1), [100, 90, 80]);
        assert_eq!(blurred.get(0, 0), [90, 90, 90]);
    }
}
