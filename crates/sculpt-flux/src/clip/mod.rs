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
#[derive(Debug)]
pub enum ClipError {
    /// The configuration describes a model the kernels cannot run.
    Config(String),
    /// A tensor is missing, mis-shaped, unreadable or could not be uploaded.
    Load(LoadError),
    /// The token ids do not fit the model.
    Input(String),
    Gpu(GpuError),
}

impl std::fmt::Display for ClipError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClipError::Config(problem) => write!(f, "CLIP configuration: {problem}"),
            ClipError::Load(e) => e.fmt(f),
            ClipError::Input(problem) => write!(f, "CLIP input: {problem}"),
            ClipError::Gpu(e) => write!(f, "CLIP on the GPU: {e}"),
        }
    }
}

impl std::error::Error for ClipError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClipError::Gpu(e) => Some(e),
            ClipError::Load(e) => Some(e),
            _ => None,
        }
    }
}

impl From<LoadError> for ClipError {
    fn from(e: LoadError) -> Self {
        ClipError::Load(e)
    }
}

impl From<GpuError> for ClipError {
    fn from(e: GpuError) -> Self {
        ClipError::Gpu(e)
    }
}
