//! The weight-file readers and writers: round trips, cross-checks against
//! candle's implementation of both formats, one crafted file per bug class
//! that public loaders have had, and a mutation sweep that must never panic.
//!
//! Native only: the tests drive the async readers with `pollster` and use
//! candle and temporary files.
#![cfg(not(target_arch = "wasm32"))]

mod candle;
mod common;
mod crafted_gguf;
mod crafted_safetensors;
mod mutations;
mod round_trip;
