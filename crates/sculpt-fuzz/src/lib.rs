//! Structure-aware fuzzing of everything Sculpt reads from outside, on a
//! stable toolchain: no sanitizer, no nightly `cargo fuzz`. Each
//! [`targets::Target`] is a parser with the checks that must hold for any
//! input: it returns a result or an error naming the problem, and it never
//! panics, never takes 20 s and never allocates far beyond its input.
//!
//! Inputs come from the committed seed corpus (`corpus/<target>/`, valid
//! files and every input a run ever found failing), mutated by
//! [`mutate`]: byte flips, interesting integers over length and count
//! fields, cuts, splices, and for JSON (a safetensors header, a manifest,
//! a tokenizer, an engine message) changes to the parsed document's nodes.
//! Runs are deterministic for a seed.
//!
//! `cargo xtask test` runs a bounded pass of every target (its executions
//! are counted in the summary); `cargo xtask fuzz` runs longer. A failing
//! input is written to `target/fuzz/failures/<target>/`; committed to
//! `corpus/<target>/`, it becomes a regression test (`tests/corpus.rs`).

pub mod allocations;
pub mod driver;
pub mod mutate;
pub mod seeds;
pub mod targets;
