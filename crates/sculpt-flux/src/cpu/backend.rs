//! The FLUX stages on the CPU with candle: what
//! [`Generation`](crate::generation::Generation) asks of a backend, with
//! the GPU backend's arithmetic (so the two agree to rounding).

use std::rc::Rc;

use candle_core::{Device, Module, Tensor};
use candle_transformers::models::flux::{self, WithForward};
use sculpt_gpu::kernels::frame::to_rgba8_cpu;

use super::autoencoder::Decoder;
use crate::generation::{Backend, Frame, LatentShape};
use crate::models::preview::PreviewDecoder;
use crate::pipeline::PipelineError;

/// The models a run uses, loaded once by the pipeline and shared.
pub(super) struct Resident {
    pub transformer: flux::model::Flux,
    pub decoder: Decoder,
    pub autoencoder: flux::autoencoder::Config,
    pub preview: Option<CpuPreview>,
}

/// A [`PreviewDecoder`] as candle tensors.
pub(super) struct CpuPreview {
    /// [3·f², channels, k, k].
    weight: Tensor,
    /// [1, 3·f², 1, 1].
    bias: Tensor,
    kernel: usize,
    factor: usize,
}

impl CpuPreview {
    pub fn new(preview: &PreviewDecoder) -> candle_core::Result<Self> {
        let cpu = &Device::Cpu;
        let (outputs, k) = (preview.outputs(), preview.kernel);
        Ok(Self {
            weight: Tensor::from_slice(&preview.weight, (outputs, preview.channels, k, k), cpu)?,
            bias: Tensor::from_slice(&preview.bias, (1, outputs, 1, 1), cpu)?,
            kernel: k,
            factor: preview.factor,
        })
    }
}

/// A prompt's T5 states [1, tokens, d] and CLIP vector [1, hidden].
pub struct CpuText {
    pub states: Tensor,
    pub pooled: Tensor,
}

/// The loaded models of a [`super::CpuPipeline`] (shared with it) and the position ids of
/// one image size.
pub struct CpuBackend {
    pub(super) resident: Rc<Resident>,
    pub(super) img_ids: Tensor,
    pub(super) txt_ids: Tensor,
}

impl Backend for CpuBackend {
    /// Image tokens [1, tokens, 4·channels].
    type Latent = Tensor;
    /// [3, height, width].
    type Image = Tensor;
    type Text = CpuText;

    fn velocity(
        &self,
        latent: &Tensor,
        t: f64,
        text: &CpuText,
        guidance: Option<f32>,
    ) -> Result<Tensor, PipelineError> {
        let cpu = &Device::Cpu;
        let guidance = guidance.map(|g| Tensor::full(g, 1, cpu)).transpose()?;
        Ok(self.resident.transformer.forward(
            latent,
            &self.img_ids,
            &text.states,
            &self.txt_ids,
            &Tensor::full(t as f32, 1, cpu)?,
            &text.pooled,
            guidance.as_ref(),
        )?)
    }

    fn mix(
        &self,
        a: &Tensor,
        a_weight: f64,
        b: &Tensor,
        b_weight: f64,
    ) -> Result<Tensor, PipelineError> {
        let scaled = |x: &Tensor, weight: f64| -> candle_core::Result<Tensor> {
            if weight == 1.0 {
                Ok(x.clone())
            } else {
                x * weight
            }
        };
        Ok((scaled(a, a_weight)? + scaled(b, b_weight)?)?)
    }

    fn decode(&self, tokens: &Tensor, shape: &LatentShape) -> Result<Tensor, PipelineError> {
        let a = &self.resident.autoencoder;
        let latent = unpacked(tokens, shape)?;
        let latent = ((latent / a.scale_factor)? + a.shift_factor)?;
        Ok(self.resident.decoder.forward(&latent)?.squeeze(0)?)
    }

    fn preview(
        &self,
        tokens: &Tensor,
        shape: &LatentShape,
    ) -> Result<Option<Tensor>, PipelineError> {
        let Some(preview) = &self.resident.preview else {
            return Ok(None);
        };
        let values = unpacked(tokens, shape)?
            .conv2d(&preview.weight, preview.kernel / 2, 1, 1, 1)?
            .broadcast_add(&preview.bias)?;
        let image = candle_nn::ops::pixel_shuffle(&values, preview.factor)?;
        Ok(Some(image.squeeze(0)?))
    }

    async fn rgba(&self, image: &Tensor) -> Result<Frame, PipelineError> {
        let (_, height, width) = image.dims3()?;
        let planes: Vec<f32> = image.flatten_all()?.to_vec1()?;
        Ok(Frame {
            width,
            height,
            rgba: to_rgba8_cpu(&planes, width, height),
        })
    }

    async fn latent_values(
        &self,
        tokens: &Tensor,
        shape: &LatentShape,
    ) -> Result<Vec<f32>, PipelineError> {
        Ok(unpacked(tokens, shape)?.flatten_all()?.to_vec1()?)
    }

    #[cfg(not(target_arch = "wasm32"))]
    fn finish(&self) -> Result<(), PipelineError> {
        // candle computes each operation as it is called.
        Ok(())
    }
}

/// Image tokens [1, tokens, 4·channels] → the autoencoder's latent [1,
/// channels, height, width] of `shape`.
fn unpacked(tokens: &Tensor, shape: &LatentShape) -> candle_core::Result<Tensor> {
    // candle's `unpack` takes the size of FLUX's image (latent 8× smaller,
    // 2×2 patches): for another autoencoder, the image that latent would be.
    flux::sampling::unpack(tokens, shape.height * 8, shape.width * 8)
}
