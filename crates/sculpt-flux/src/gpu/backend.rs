//! The FLUX stages on Sculpt's WGSL kernels: what [`Generation`] asks of a
//! backend, on the GPU. Nothing here reads back but [`Backend::rgba`].
//!
//! [`Generation`]: crate::generation::Generation

use std::rc::Rc;

use sculpt_gpu::{
    Gpu, Tensor,
    kernels::{
        conv::{Conv2dConfig, Padding, conv2d},
        elementwise::{Binary, Unary, binary, unary},
        frame::to_rgba8,
        layout::{pack_patches, unpack_patches},
        noise::NoiseKernel,
        resample::pixel_shuffle,
    },
};

use crate::generation::{Backend, Frame, LatentShape};
use crate::models::autoencoder::Decoder;
use crate::models::flux1::{FluxInputs, FluxTransformer, Positions};
use crate::models::preview::PreviewDecoder;
use crate::pipeline::PipelineError;

/// The models kept loaded between generations, shared by the pipeline
/// with the runs that use them.
pub(super) struct Resident {
    pub transformer: FluxTransformer,
    pub decoder: Decoder,
    pub preview: Option<GpuPreview>,
}

/// A [`PreviewDecoder`] on the GPU: a convolution and a depth to space.
pub(super) struct GpuPreview {
    /// [3·f², channels, k, k].
    weight: Tensor,
    /// [3·f²].
    bias: Tensor,
    kernel: usize,
    factor: usize,
}

impl GpuPreview {
    pub fn new(gpu: &Gpu, preview: &PreviewDecoder) -> Result<Self, PipelineError> {
        let (outputs, k) = (preview.outputs(), preview.kernel);
        Ok(Self {
            weight: Tensor::from_slice(gpu, &preview.weight, &[outputs, preview.channels, k, k])?,
            bias: Tensor::from_slice(gpu, &preview.bias, &[outputs])?,
            kernel: k,
            factor: preview.factor,
        })
    }
}

/// A prompt's T5 states and pooled CLIP vector.
pub struct GpuText {
    pub states: Tensor,
    pub pooled: Tensor,
}

/// The loaded models of a [`super::GpuPipeline`] (shared with it) and the
/// positions of one image size.
pub struct GpuBackend {
    pub(super) gpu: Rc<Gpu>,
    pub(super) resident: Rc<Resident>,
    pub(super) positions: Positions,
    pub(super) noise: Rc<NoiseKernel>,
}

impl GpuBackend {
    pub fn gpu(&self) -> &Gpu {
        &self.gpu
    }

    /// The seed's Gaussian noise as image tokens (the CPU's
    /// `gaussian_cpu`, bit for bit).
    pub fn noise(&self, seed: u64, shape: &LatentShape) -> Result<Tensor, PipelineError> {
        let noise = self.noise.sample(
            &self.gpu,
            seed,
            &[shape.channels, shape.height, shape.width],
        )?;
        Ok(pack_patches(&self.gpu, &noise)?)
    }
}

impl Backend for GpuBackend {
    type Latent = Tensor;
    type Image = Tensor;
    type Text = GpuText;

    fn velocity(
        &self,
        latent: &Tensor,
        t: f64,
        text: &GpuText,
        guidance: Option<f32>,
    ) -> Result<Tensor, PipelineError> {
        Ok(self.resident.transformer.forward(
            &self.gpu,
            &FluxInputs {
                img: latent,
                txt: &text.states,
                positions: &self.positions,
                timestep: t as f32,
                y: &text.pooled,
                guidance,
            },
        )?)
    }

    fn mix(
        &self,
        a: &Tensor,
        a_weight: f64,
        b: &Tensor,
        b_weight: f64,
    ) -> Result<Tensor, PipelineError> {
        let gpu = &*self.gpu;
        if a_weight == 1.0 && b_weight == -1.0 {
            return Ok(binary(gpu, Binary::Sub, a, b)?);
        }
        let scaled = |x: &Tensor, weight: f64| -> Result<Tensor, PipelineError> {
            Ok(if weight == 1.0 {
                x.clone()
            } else {
                unary(gpu, Unary::Scale(weight as f32), x)?
            })
        };
        Ok(binary(
            gpu,
            Binary::Add,
            &scaled(a, a_weight)?,
            &scaled(b, b_weight)?,
        )?)
    }

    fn decode(&self, tokens: &Tensor, shape: &LatentShape) -> Result<Tensor, PipelineError> {
        let latent = unpack_patches(&self.gpu, tokens, shape.height, shape.width)?;
        Ok(self.resident.decoder.decode(&self.gpu, &latent)?)
    }

    fn preview(
        &self,
        tokens: &Tensor,
        shape: &LatentShape,
    ) -> Result<Option<Tensor>, PipelineError> {
        let Some(preview) = &self.resident.preview else {
            return Ok(None);
        };
        let gpu = &*self.gpu;
        let latent = unpack_patches(gpu, tokens, shape.height, shape.width)?;
        let config = Conv2dConfig {
            stride: 1,
            padding: Padding::uniform(preview.kernel / 2),
        };
        let values = conv2d(gpu, &latent, &preview.weight, Some(&preview.bias), config)?;
        Ok(Some(pixel_shuffle(gpu, &values, preview.factor)?))
    }

    async fn rgba(&self, image: &Tensor) -> Result<Frame, PipelineError> {
        // `to_rgba8` refuses anything but [3, height, width].
        let rgba = to_rgba8(&self.gpu, image).await?;
        let (height, width) = (image.shape()[1], image.shape()[2]);
        Ok(Frame {
            width,
            height,
            rgba,
        })
    }

    async fn latent_values(
        &self,
        tokens: &Tensor,
        shape: &LatentShape,
    ) -> Result<Vec<f32>, PipelineError> {
        let latent = unpack_patches(&self.gpu, tokens, shape.height, shape.width)?;
        Ok(latent.to_vec(&self.gpu).await?)
    }

    #[cfg(not(target_arch = "wasm32"))]
    fn finish(&self) -> Result<(), PipelineError> {
        Ok(self.gpu.finish()?)
    }
}
