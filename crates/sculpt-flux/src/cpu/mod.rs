//! The CPU fallback: the built-in model on the CPU with candle, for browsers
//! without WebGPU (in wasm, with SIMD) and for `sculpt generate --cpu`.
//!
//! It runs candle-transformers' own CLIP, T5 and FLUX transformer, and its
//! autoencoder with one workaround (see `cpu/autoencoder.rs`), fed by this crate's format readers and checked against the
//! same [`ModelConfigs`](crate::family::ModelConfigs) as the GPU
//! pipeline. [`CpuPipeline`] and [`CpuBackend`] are the CPU's
//! [`Pipeline`](crate::generation::Pipeline) and
//! [`Backend`](crate::generation::Backend), so the one
//! [`Generation`](crate::generation::Generation) driver samples here as on
//! the GPU: the same request checks, schedule ([`crate::schedule`]), seeded
//! Philox noise (`sculpt_gpu::kernels::noise::gaussian_cpu`, the GPU
//! kernel's CPU twin), true CFG, Euler steps one at a time with a frame of
//! x_t, x̂₀ or v, and the same RGBA8 bytes. A generation on the CPU
//! therefore matches the GPU's to rounding (`tests/gpu_cpu_parity.rs`).
//!
//! Weights are held in memory as f32 (GGUF blocks are dequantized once, at
//! load), because the CPU runs small models only: the fallback refuses
//! models whose weights exceed [`MAX_CPU_WEIGHT_BYTES`] as f32, models split
//! in shards and diffusers-named files. Imported FLUX.1 checkpoints (12
//! billion parameters) are GPU-only; at CPU speed a step would take minutes.

mod autoencoder;
mod backend;
mod models;
mod pipeline;
mod weights;

pub use backend::{CpuBackend, CpuText};
pub use pipeline::CpuPipeline;
pub use weights::{MAX_CPU_WEIGHT_BYTES, ggml_type};
