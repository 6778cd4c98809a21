//! Latent → image: `conv_in`, the middle block, then the levels from the
//! lowest resolution up, each of `num_res_blocks + 1` resnet blocks and
//! (but the full-resolution one) an upsampler, then the output head.

use sculpt_gpu::{
    Gpu, Tensor,
    kernels::elementwise::{Unary, unary},
};

use super::{
    AutoEncoderConfig,
    blocks::{Conv, MidBlock, OutputHead, ResnetBlock, Upsample},
    slices::ChannelSlices,
};
use crate::models::flux1::FluxError;
use crate::weights::Loader;
use crate::weights::WeightSource;

/// One level of the decoder, stored as `decoder.up.{level}`.
struct UpLevel {
    blocks: Vec<ResnetBlock>,
    upsample: Option<Upsample>,
}

/// The FLUX autoencoder's decoder on the GPU, for one image.
pub struct Decoder {
    config: AutoEncoderConfig,
    conv_in: Conv,
    mid: MidBlock,
    /// Lowest resolution first: the order they run in.
    up: Vec<UpLevel>,
    head: OutputHead,
}

impl Decoder {
    /// Uploads the `decoder.*` tensors `config` calls for; a missing or
    /// mis-shaped tensor is an error that names it.
    pub async fn load(
        gpu: &Gpu,
        config: AutoEncoderConfig,
        source: &mut impl WeightSource,
    ) -> Result<Self, FluxError> {
        config.validate()?;
        let loader = &mut Loader::new(gpu, source, "FLUX");
        let mut channels = config.bottom_channels();
        let conv_in = Conv::same(loader, "decoder.conv_in", config.z_channels, channels).await?;
        let mid = MidBlock::load(loader, "decoder", channels).await?;
        let mut up = Vec::with_capacity(config.ch_mult.len());
        for level in (0..config.ch_mult.len()).rev() {
            let name = format!("decoder.up.{level}");
            let out_channels = config.level_channels(level);
            let mut blocks = Vec::with_capacity(config.num_res_blocks + 1);
            for block in 0..=config.num_res_blocks {
                blocks.push(
                    ResnetBlock::load(
                        loader,
                        &format!("{name}.block.{block}"),
                        channels,
                        out_channels,
                    )
                    .await?,
                );
                channels = out_channels;
            }
            let upsample = if level == 0 {
                None
            } else {
                Some(Upsample::load(loader, &format!("{name}.upsample"), channels).await?)
            };
            up.push(UpLevel { blocks, upsample });
        }
        let head = OutputHead::load(loader, "decoder", channels, config.out_channels).await?;
        Ok(Self {
            config,
            conv_in,
            mid,
            up,
            head,
        })
    }

    pub fn config(&self) -> &AutoEncoderConfig {
        &self.config
    }

    /// The image [out_channels, 8h, 8w] (for FLUX's three upsamplings),
    /// roughly in [−1, 1], of a latent the way the transformer produces it,
    /// [z_channels, h, w]: first brought back to the autoencoder's own
    /// latent, `z / scale_factor + shift_factor`, then [`forward`](Self::forward).
    pub fn decode(&self, gpu: &Gpu, latent: &Tensor) -> Result<Tensor, FluxError> {
        let unscaled = unary(gpu, Unary::Scale(1.0 / self.config.scale_factor), latent)?;
        let z = unary(gpu, Unary::AddScalar(self.config.shift_factor), &unscaled)?;
        self.forward(gpu, &z)
    }

    /// The decoder network alone, on the autoencoder's own latent z
    /// [z_channels, h, w]. Records GPU work only: nothing is read back.
    pub fn forward(&self, gpu: &Gpu, z: &Tensor) -> Result<Tensor, FluxError> {
        match z.shape() {
            &[channels, height, width]
                if channels == self.config.z_channels && height > 0 && width > 0 => {}
            shape => {
                return Err(FluxError::Input(format!(
                    "the decoder takes a latent [{}, height, width], not {shape:?}",
                    self.config.z_channels
                )));
            }
        }
        let h = self
            .conv_in
            .forward(gpu, &ChannelSlices::whole(z.clone())?)?;
        let mut h = self.mid.forward(gpu, &h)?;
        for level in &self.up {
            for block in &level.blocks {
                h = block.forward(gpu, &h)?;
            }
            if let Some(upsample) = &level.upsample {
                h = upsample.forward(gpu, &h)?;
            }
        }
        self.head.forward(gpu, &h)?.into_whole(gpu)
    }
}
