//! The one error of loading any model's weights.

use sculpt_gpu::GpuError;

/// Why a model's weights could not be loaded. `model` is what messages call
/// the model ("FLUX", "CLIP", "T5"); every variant names the tensor.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The weights lack a tensor the configuration needs.
    #[error("the {model} weights have no tensor \"{name}\"")]
    MissingTensor { model: &'static str, name: String },
    /// A tensor's shape differs from what the configuration needs.
    #[error("the {model} tensor \"{name}\" is {found:?}; the configuration needs {expected:?}")]
    TensorShape {
        model: &'static str,
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    /// The source could not deliver a tensor, or delivered it in a form the
    /// model cannot use.
    #[error("the {model} tensor \"{name}\" could not be read: {message}")]
    Source {
        model: &'static str,
        name: String,
        message: String,
    },
    /// Uploading a tensor failed.
    #[error("the {model} tensor \"{name}\" could not be uploaded to the GPU: {source}")]
    Gpu {
        model: &'static str,
        name: String,
        source: GpuError,
    },
}

impl LoadError {
    /// The tensor the error is about.
    pub fn tensor(&self) -> &str {
        match self {
            Self::MissingTensor { name, .. }
            | Self::TensorShape { name, .. }
            | Self::Source { name, .. }
            | Self::Gpu { name, .. } => name,
        }
    }
}
