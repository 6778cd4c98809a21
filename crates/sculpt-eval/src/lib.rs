//! The built-in model's measured quality (`cargo xtask eval-tiny`; figures in
//! models/sculpt-tiny/MODEL.md): prompt adherence on seeded procedural prompts, read back by an
//! image-analysis checker; emoji concepts by the nearest training glyph; diversity across seeds;
//! and CI's regression subset with its floors.
//!
//! It owns the measuring, never the model: images come from a [`generator::Generator`], and
//! everything but the concept references (drawn by the training data's Python) is pure Rust.
//!
//! - **Adherence** ([`adherence`]): 100 seeded procedural prompts ([`prompts`]) at the model's
//!   20 steps and at 4, each image read back by the [`checker`] (the main shape's colour,
//!   position and class, and the background).
//! - **Diversity** ([`diversity`]): one prompt across 8 seeds.
//! - **Concepts** ([`concepts`]): emoji prompts, each image matched to its nearest training
//!   glyph ([`reference`](mod@reference)).
//! - **Regression** ([`regression`]): CI's subset, the first 10 prompts at 20 steps, with floors
//!   a broken model fails (`tests/regression.rs` checks the floors against known-broken
//!   generators).
//!
//! The eval generates on the CPU pipeline by default (candle: fast for this small model on a
//! machine without a GPU; the same pixels as the GPU's within 1/255, `sculpt-flux`'s
//! `gpu_cpu_parity`), or with `--gpu` on the GPU pipeline. So CI's subset, which
//! `tests/builtin_regression.rs` runs among the native unit tests of `cargo xtask test`, needs
//! neither Python nor a GPU. `cargo xtask eval-tiny` runs the whole eval and writes
//! `target/eval/report.md` with a sample sheet and every image; `--quick` runs the subset alone.

pub mod adherence;
pub mod checker;
pub mod concepts;
pub mod diversity;
pub mod generator;
pub mod grid;
pub mod image;
pub mod preview;
pub mod prompts;
pub mod reference;
pub mod regression;
pub mod render;
pub mod report;
pub mod vocab;
