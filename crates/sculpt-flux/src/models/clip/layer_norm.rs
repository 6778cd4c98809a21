//! CLIP's LayerNorm with its learned scale and shift.

use sculpt_gpu::{Gpu, Tensor};

use super::{ClipError, LAYER_NORM_EPS};
use crate::weights::{LoadError, Loader};

pub(crate) struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
}

impl LayerNorm {
    /// `{name}.weight` and `{name}.bias`, both [width].
    pub async fn load(
        loader: &mut Loader<'_>,
        name: &str,
        width: usize,
    ) -> Result<Self, LoadError> {
        Ok(Self {
            weight: loader.vector(&format!("{name}.weight"), width).await?,
            bias: loader.vector(&format!("{name}.bias"), width).await?,
        })
    }

    /// Over the last axis.
    pub fn forward(&self, gpu: &Gpu, x: &Tensor) -> Result<Tensor, ClipError> {
        Ok(sculpt_gpu::kernels::norm::layer_norm(
            gpu,
            x,
            Some((&self.weight, &self.bias)),
            LAYER_NORM_EPS,
        )?)
    }
}
