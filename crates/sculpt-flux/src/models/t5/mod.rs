//! T5 v1.1's encoder (FLUX's `text_encoder_2`, T5-XXL): the prompt's token
//! ids become the text tokens the FLUX transformer attends to.
//!
//! v1.1 differs from the original T5 in its gated-GELU feed-forward (tanh
//! approximation) and untied embeddings; like it, it has no biases, RMS
//! layer norms without mean subtraction (eps 1e-6), attention scores without
//! 1/√d scaling, and a relative position bias computed from block 0's
//! weights and added in every block.
//!
//! Built from sculpt-gpu's kernels; every activation stays on the GPU.
//! Checked against candle-transformers' `T5EncoderModel` on the CPU
//! (`tests/gpu_t5.rs`).

mod block;
mod config;
mod encoder;
mod position_bias;

use sculpt_gpu::GpuError;

use crate::weights::LoadError;

pub use crate::weights::{SourceError, SourceTensor, TensorData, TensorUse, WeightSource};
pub use config::{LAYER_NORM_EPS, T5Config};
pub use encoder::T5Encoder;
pub use position_bias::relative_position_bucket;

/// Why a T5 encoder could not be built or run.
#[derive(Debug, thiserror::Error)]
pub enum T5Error {
    /// The configuration describes a model the kernels cannot run.
    #[error("T5 configuration: {0}")]
    Config(String),
    /// A tensor is missing, mis-shaped, unreadable or could not be uploaded.
    #[error("{0}")]
    Load(#[from] LoadError),
    /// The token ids cannot be encoded.
    #[error("T5 input: {0}")]
    Input(String),
    #[error("T5 on the GPU: {0}")]
    Gpu(#[from] GpuError),
}
