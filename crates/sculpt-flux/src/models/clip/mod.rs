//! CLIP-L's text model, FLUX's pooled-text encoder: token and position
//! embeddings, pre-norm transformer layers with causal self-attention and
//! QuickGELU MLPs, a final LayerNorm; the pooled vector is the final hidden
//! state of the end-of-text token (the largest id in CLIP's vocabulary).
//! There is no text projection: FLUX takes the pooled hidden state as is.
//!
//! Built from sculpt-gpu's kernels; checked against candle-transformers'
//! `ClipTextTransformer` on the CPU (`tests/gpu_clip.rs`). Weights are read
//! by the names of the Hugging Face `text_encoder/model.safetensors`
//! (`text_model.encoder.layers.0.self_attn.q_proj.weight`), through the same
//! [`WeightSource`](crate::weights::WeightSource) as the transformer.

mod config;
mod layer;
mod layer_norm;
mod model;

use sculpt_gpu::GpuError;

use crate::weights::LoadError;

pub use config::{ClipTextConfig, LAYER_NORM_EPS};
pub use model::ClipTextModel;

/// Why a CLIP text model could not be built or run.
#[derive(Debug, thiserror::Error)]
pub enum ClipError {
    /// The configuration describes a model the kernels cannot run.
    #[error("CLIP configuration: {0}")]
    Config(String),
    /// A tensor is missing, mis-shaped, unreadable or could not be uploaded.
    #[error("{0}")]
    Load(#[from] LoadError),
    /// The token ids do not fit the model.
    #[error("CLIP input: {0}")]
    Input(String),
    #[error("CLIP on the GPU: {0}")]
    Gpu(#[from] GpuError),
}
