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
//! [`WeightSource`](crate::flux::WeightSource) as the transformer.

mod config;
mod layer;
mod model;
mod weights;

use sculpt_gpu::GpuError;

pub use config::{ClipTextConfig, LAYER_NORM_EPS};
pub use model::ClipTextModel;

/// Why a CLIP text model could not be built or run.
#[derive(Debug)]
pub enum ClipError {
    /// The configuration describes a model the kernels cannot run.
    Config(String),
    /// The weights lack a tensor the configuration needs.
    MissingTensor(String),
    /// A tensor's shape differs from what the configuration needs.
    TensorShape {
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    /// The weight source could not deliver a tensor.
    Source {
        name: String,
        message: String,
    },
    /// The token ids do not fit the model.
    Input(String),
    Gpu(GpuError),
}

impl std::fmt::Display for ClipError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClipError::Config(problem) => write!(f, "CLIP configuration: {problem}"),
            ClipError::MissingTensor(name) => {
                write!(f, "the CLIP weights have no tensor \"{name}\"")
            }
            ClipError::TensorShape {
                name,
                expected,
                found,
            } => write!(
                f,
                "the CLIP tensor \"{name}\" is {found:?}; the configuration needs {expected:?}"
            ),
            ClipError::Source { name, message } => {
                write!(f, "the CLIP tensor \"{name}\" could not be read: {message}")
            }
            ClipError::Input(problem) => write!(f, "CLIP input: {problem}"),
            ClipError::Gpu(e) => write!(f, "CLIP on the GPU: {e}"),
        }
    }
}

impl std::error::Error for ClipError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClipError::Gpu(e) => Some(e),
            _ => None,
        }
    }
}

impl From<GpuError> for ClipError {
    fn from(e: GpuError) -> Self {
        ClipError::Gpu(e)
    }
}
