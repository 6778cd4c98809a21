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
//! weights stream to the GPU in bounded chunks.
//!
//! Today the crate holds the weight-file readers ([`formats`]), the text
//! tokenizers ([`text`]) and the FLUX transformer ([`flux`]); the
//! autoencoder, the text encoders and the pipeline land here next.

pub mod clip;
pub mod flux;
pub mod formats;
pub mod sampler;
pub mod t5;
pub mod text;
