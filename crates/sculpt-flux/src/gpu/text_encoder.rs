//! The text encoder of each kind on the GPU, behind one type so that the
//! pipeline runs whichever encoders its family lists.

use sculpt_gpu::{Gpu, Tensor};

use crate::checkpoint::ModelConfig;
use crate::family::TextOutput;
use crate::formats::ByteSource;
use crate::models::clip::ClipTextModel;
use crate::models::t5::T5Encoder;
use crate::pipeline::PipelineError;
use crate::weights::FileWeights;

pub(super) enum GpuTextEncoder {
    Clip(ClipTextModel),
    T5(T5Encoder),
}

impl GpuTextEncoder {
    /// Uploads the encoder `config` describes from `file`.
    pub(super) async fn load<S: ByteSource>(
        gpu: &Gpu,
        config: &ModelConfig,
        file: &mut FileWeights<S>,
    ) -> Result<Self, PipelineError> {
        Ok(match config {
            ModelConfig::Clip(config) => {
                Self::Clip(ClipTextModel::load(gpu, config.clone(), file).await?)
            }
            ModelConfig::T5(config) => Self::T5(T5Encoder::load(gpu, config.clone(), file).await?),
            ModelConfig::Transformer(_) | ModelConfig::Autoencoder(_) => {
                unreachable!("families validate that text encoders are text models")
            }
        })
    }

    /// The encoder's `output` for token `ids`: the pooled vector [width],
    /// or the states [ids, width].
    pub(super) fn output(
        &self,
        gpu: &Gpu,
        ids: &[u32],
        output: TextOutput,
    ) -> Result<Tensor, PipelineError> {
        Ok(match (self, output) {
            (Self::Clip(clip), TextOutput::Pooled) => clip.forward(gpu, ids)?.1,
            (Self::Clip(clip), TextOutput::States) => clip.forward(gpu, ids)?.0,
            (Self::T5(t5), TextOutput::States) => t5.forward(gpu, ids)?,
            (Self::T5(_), TextOutput::Pooled) => {
                unreachable!("families validate that T5 gives states only")
            }
        })
    }
}
