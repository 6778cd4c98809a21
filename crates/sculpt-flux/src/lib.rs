//! # sculpt-flux
//!
//! Sculpt's model layer, on top of `sculpt-gpu`. Data flows one way through it:
//! bytes (a file, or IndexedDB in the browser) → format readers (GGUF,
//! safetensors, tokenizer.json) → tensors on the GPU → models (the FLUX
//! transformer, autoencoder, CLIP-L and T5 encoders) → the generation driver
//! → step frames.
//!
//! **Owns:** weight formats, model definitions driven by a `Config`, the
//! schedule, the generation driver and its step-level API, and the two
//! backends it runs on (GPU, and CPU with the feature `cpu`).
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
//! names and shapes), tokenizers ([`text`]), the text encoders ([`clip`],
//! [`t5`]), the FLUX transformer and autoencoder ([`flux`],
//! [`flux::autoencoder`]); what to run ([`pipeline`]: manifests, imported
//! files sorted into roles, requests, the memory plan) and the times a run
//! visits ([`schedule`]); then [`generation`], written once for every
//! backend: the [`generation::Pipeline`] trait, the step-level
//! [`generation::Generation`] driver (Euler steps, true CFG, image-to-image,
//! the forward process, a bounded history of x_t, x̂₀ and v) and the
//! [`generation::Backend`] trait it runs on. Two backends implement it:
//! [`gpu`] (Sculpt's WGSL kernels through wgpu) and, with the feature
//! `cpu`, `cpu` (candle-transformers' models on the CPU, natively and in
//! wasm, for browsers without WebGPU; small models only). The two give the
//! same pixels to rounding (`tests/gpu_cpu_parity.rs`), and each model is
//! checked against candle-transformers on the CPU, a whole generation too
//! (`sculpt-cli`'s `tests/gpu_generate.rs`).
//!
//! **Where things go.** A new GPU kernel goes in `sculpt-gpu` (one `.wgsl`
//! family per file); a new layer or model of FLUX's in its folder here
//! (`flux/`, `clip/`, `t5/`), checked against candle in `tests/gpu_*.rs`; a
//! new sampling feature (a schedule, a guidance rule, a step view) in
//! [`generation`] or [`schedule`], once, so that both backends and every
//! surface get it; a new backend is a [`generation::Backend`] and a
//! [`generation::Pipeline`] that opens models on it.

pub mod checkpoint;
pub mod clip;
#[cfg(feature = "cpu")]
pub mod cpu;
pub mod flux;
pub mod formats;
pub mod generation;
pub mod gpu;
pub mod pipeline;
pub mod schedule;
pub mod t5;
pub mod text;
pub mod weights;
