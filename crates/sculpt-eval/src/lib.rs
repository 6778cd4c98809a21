//! The built-in model's measured quality (`cargo xtask eval-tiny`; figures in
//! models/sculpt-tiny/MODEL.md): prompt adherence on seeded procedural prompts, read back by an
//! image-analysis checker; emoji concepts by the nearest training glyph; diversity across seeds.

pub mod adherence;
pub mod checker;
pub mod generator;
pub mod image;
pub mod prompts;
pub mod render;
pub mod vocab;
