//! The reference images xtask/train/eval_reference.py draws with the training data's own code:
//! the emoji glyphs on white, and one-shape training scenes with their attributes.

use std::path::Path;

use anyhow::{Context, anyhow};
use serde::Deserialize;

use crate::checker::Expected;
use crate::image::RgbImage;
use crate::vocab::{Colour, Position, SHAPES, SIZES};

pub struct Glyphs {
    pub names: Vec<String>,
    pub images: Vec<RgbImage>,
}

#[derive(Deserialize)]
struct GlyphIndex {
    tile: usize,
    columns: usize,
    names: Vec<String>,
}

#[derive(Deserialize)]
struct SceneIndex {
    tile: usize,
    columns: usize,
    scenes: Vec<SceneAttributes>,
}

#[derive(Deserialize)]
struct SceneAttributes {
    bg: String,
    shape: String,
    colour: String,
    position: String,
    size: String,
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> anyhow::Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not as expected", path.display()))
}

fn tiles(sheet: &RgbImage, tile: usize, columns: usize, count: usize) -> Vec<RgbImage> {
    (0..count)
        .map(|i| sheet.crop((i % columns) * tile, (i / columns) * tile, tile, tile))
        .collect()
}

pub fn read_glyphs(dir: &Path) -> anyhow::Result<Glyphs> {
    let index: GlyphIndex = read_json(&dir.join("glyphs.json"))?;
    let sheet = RgbImage::read_png(&dir.join("glyphs.png"))?;
    let images = tiles(&sheet, index.tile, index.columns, index.names.len());
    Ok(Glyphs {
        names: index.names,
        images,
    })
}

/// The training scenes and what each shows (size and background always named).
pub fn read_scenes(dir: &Path) -> anyhow::Result<Vec<(Expected, RgbImage)>> {
    let index: SceneIndex = read_json(&dir.join("scenes.json"))?;
    let sheet = RgbImage::read_png(&dir.join("scenes.png"))?;
    let images = tiles(&sheet, index.tile, index.columns, index.scenes.len());
    let colour = |name: &str| Colour::by_name(name).ok_or_else(|| anyhow!("colour {name}"));
    index
        .scenes
        .iter()
        .zip(images)
        .map(|(s, image)| {
            let expected = Expected {
                shape: *SHAPES
                    .iter()
                    .find(|x| x.name() == s.shape)
                    .ok_or_else(|| anyhow!("shape {}", s.shape))?,
                colour: colour(&s.colour)?,
                position: Position::all()
                    .find(|p| p.name() == s.position)
                    .ok_or_else(|| anyhow!("position {}", s.position))?,
                size: Some(
                    *SIZES
                        .iter()
                        .find(|x| x.name() == s.size)
                        .ok_or_else(|| anyhow!("size {}", s.size))?,
                ),
                background: Some(colour(&s.bg)?),
            };
            Ok((expected, image))
        })
        .collect()
}
