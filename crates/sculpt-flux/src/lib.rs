//! # sculpt-flux
//!
//! Sculpt's model layer, on top of `sculpt-gpu`. Data flows one way through it:
//! bytes (a file, or IndexedDB in the browser) → format readers (GGUF,
//! safetensors, tokenizer.json) → tensors on the GPU → models (the FLUX
//! transformer, autoencoder, CLIP-L and T5 encoders) → sampler → step frames.
//!
//! **Owns:** weight formats, model definitions driven by a `Config`, the
//! sampler and the pipeline API (load → generate, with a callback per step).
//!
//! **Must not:** touch the DOM, files by path or the terminal (callers pass
//! byte sources and receive frames), or hold a whole weight file in memory:
//! weights stream to the GPU in bounded chunks (only the CPU fallback holds
//! its model in memory, and it refuses all but small models).
//!
//! In the order data flows: weight-file readers ([`formats`]), the weight
//! sources and the one loader every model uploads through ([`weights`]:
//! async, so that the browser can read IndexedDB), what a file holds
//! ([`checkpoint`]: role, naming, variant and configuration from tensor
//! names and shapes), tokenizers ([`text`]), the text encoders ([`clip`], [`t5`]), the FLUX transformer
//! and autoencoder ([`flux`], [`flux::autoencoder`]) and the Euler
//! [`sampler`], and the [`pipeline`] that runs them stage by stage from a
//! model manifest or from imported files (request checks, memory plan,
//! steps with frames of either latent). Each model is checked against
//! candle-transformers on the CPU, and so is a whole generation
//! (`sculpt-cli`'s `tests/gpu_generate.rs`).
//!
//! With the feature `cpu`, the module `cpu` runs the built-in model on the CPU with
//! candle (natively and in wasm), for browsers without WebGPU: the same
//! request, schedule, noise and pixels as the GPU [`pipeline`], small models
//! only.

pub mod checkpoint;
pub mod clip;
#[cfg(feature = "cpu")]
pub mod cpu;
pub mod flux;
pub mod formats;
pub mod pipeline;
pub mod sampler;
pub mod t5;
pub mod text;
pub mod weights;
