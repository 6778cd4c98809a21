//! The FLUX.1 transformer (the "DiT"): text tokens and image tokens attend
//! to each other through double-stream blocks (separate weights per stream),
//! then through single-stream blocks over the joined sequence, all modulated
//! by one conditioning vector made from the timestep, the pooled text
//! embedding and, for the guidance-distilled dev model, the guidance.
//!
//! The autoencoder between images and latents is [`autoencoder`].
//!
//! Built from sculpt-gpu's kernels; every activation stays on the GPU.
//! Checked against candle-transformers' FLUX model on the CPU
//! (`tests/gpu_flux.rs`), also when loaded from BF16 safetensors and
//! Q8_0 GGUF files, under BFL names and under diffusers names
//! ([`DiffusersNames`]). `load` is async: see [`crate::weights`].

mod config;
mod diffusers;
mod double_block;
mod layers;
mod model;
mod positions;
mod single_block;
mod token_chunks;

use sculpt_gpu::GpuError;

pub use crate::weights::LoadError;

pub use crate::weights::{SourceError, SourceTensor, TensorData, TensorUse, WeightSource};
pub use config::{FluxConfig, NORM_EPS, TIME_EMBEDDING_DIM};
pub use diffusers::{DiffusersNames, DiffusersRecipe, diffusers_recipe};
pub use model::{FluxInputs, FluxTransformer};
pub use positions::{Positions, image_ids, text_ids};

/// Why a FLUX transformer could not be built or run.
#[derive(Debug, thiserror::Error)]
pub enum FluxError {
    /// The configuration describes a model the kernels cannot run.
    #[error("FLUX configuration: {0}")]
    Config(String),
    /// A tensor is missing, mis-shaped, unreadable or could not be uploaded.
    #[error("{0}")]
    Load(#[from] LoadError),
    /// An input of `forward` has the wrong shape for the model.
    #[error("FLUX input: {0}")]
    Input(String),
    #[error("FLUX on the GPU: {0}")]
    Gpu(#[from] GpuError),
}
