//! The built-in model's measured quality (`cargo xtask eval-tiny`; figures in
//! models/sculpt-tiny/MODEL.md): prompt adherence on seeded procedural prompts, read back by an
//! image-analysis checker; emoji concepts by the nearest training glyph; diversity across seeds;
//! and CI's regression subset with its floors.
//!
//! It owns the measuring, never the model: images come from a [`generator::Generator`], and
//! everything but the concept references (drawn by the training data's Python) is pure Rust, so
//! CI's subset needs nothing beyond a GPU adapter (lavapipe will do).

pub mod adherence;
pub mod checker;
pub mod concepts;
pub mod diversity;
pub mod generator;
pub mod grid;
pub mod image;
pub mod prompts;
pub mod reference;
pub mod regression;
pub mod render;
pub mod report;
pub mod vocab;
