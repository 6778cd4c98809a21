//! Image → latent: `conv_in`, the levels from full resolution down, each of
//! `num_res_blocks` resnet blocks and (but the lowest) a strided
//! downsampling convolution, the middle block, then the output head, which
//! gives the mean and the log-variance of a diagonal Gaussian per latent
//! pixel.

use sculpt_gpu::{
    Gpu, Tensor,
    kernels::elementwise::{Unary, unary},
};

use super::{
    AutoEncoderConfig,
    blocks::{Conv, MidBlock, OutputHead, ResnetBlock, downsample},
    slices::ChannelSlices,
};
use crate::models::flux1::FluxError;
use crate::weights::Loader;
use crate::weights::WeightSource;

/// One level of the encoder, stored as `encoder.down.{level}`.
struct DownLevel {
    blocks: Vec<ResnetBlock>,
    downsample: Option<Conv>,
}

/// The FLUX autoencoder's encoder on the GPU, for one image.
pub struct Encoder {
    config: AutoEncoderConfig,
    conv_in: Conv,
    /// Full resolution first: the order they run in.
    down: Vec<DownLevel>,
    mid: MidBlock,
    head: OutputHead,
}

impl Encoder {
    /// Uploads the `encoder.*` tensors `config` calls for; a missing or
    /// mis-shaped tensor is an error that names it.
    pub async fn load(
        gpu: &Gpu,
        config: AutoEncoderConfig,
        source: &mut impl WeightSource,
    ) -> Result<Self, FluxError> {
        config.validate()?;
        let loader = &mut Loader::new(gpu, source, "FLUX");
        let conv_in = Conv::same(loader, "encoder.conv_in", config.in_channels, config.ch).await?;
        let mut channels = config.ch;
        let levels = config.ch_mult.len();
        let mut down = Vec::with_capacity(levels);
        for level in 0..levels {
            let name = format!("encoder.down.{level}");
            let out_channels = config.level_channels(level);
            let mut blocks = Vec::with_capacity(config.num_res_blocks);
            for block in 0..config.num_res_blocks {
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
            let downsample = if level + 1 == levels {
                None
            } else {
                Some(downsample(loader, &format!("{name}.downsample"), channels).await?)
            };
            down.push(DownLevel { blocks, downsample });
        }
        let mid = MidBlock::load(loader, "encoder", channels).await?;
        let head = OutputHead::load(loader, "encoder", channels, 2 * config.z_channels).await?;
        Ok(Self {
            config,
            conv_in,
            down,
            mid,
            head,
        })
    }

    pub fn config(&self) -> &AutoEncoderConfig {
        &self.config
    }

    /// The latent the transformer works on, `(mean − shift_factor) ·
    /// scale_factor`, of an image [in_channels, H, W] in [−1, 1]. The
    /// Gaussian's mean is taken instead of a sample from it, so that the
    /// same image always gives the same latent (the variance the encoder
    /// predicts is tiny for FLUX's autoencoder).
    pub fn encode(&self, gpu: &Gpu, image: &Tensor) -> Result<Tensor, FluxError> {
        let mean = self.forward(gpu, image)?;
        let shifted = unary(gpu, Unary::AddScalar(-self.config.shift_factor), &mean)?;
        Ok(unary(
            gpu,
            Unary::Scale(self.config.scale_factor),
            &shifted,
        )?)
    }

    /// The encoder network alone: the mean of the latent Gaussian,
    /// [z_channels, H/8, W/8] (for FLUX's three downsamplings), before any
    /// shift and scale, of an image [in_channels, H, W] in [−1, 1] whose
    /// sides are multiples of 8. (The network's other `z_channels` outputs,
    /// the log-variance, are left out.) Records GPU work only.
    pub fn forward(&self, gpu: &Gpu, image: &Tensor) -> Result<Tensor, FluxError> {
        let config = &self.config;
        let multiple = config.pixels_per_latent();
        match image.shape() {
            &[channels, height, width]
                if channels == config.in_channels
                    && height > 0
                    && width > 0
                    && height.is_multiple_of(multiple)
                    && width.is_multiple_of(multiple) => {}
            shape => {
                return Err(FluxError::Input(format!(
                    "the encoder takes an image [{}, height, width] with sides that are \
                     multiples of {multiple}, not {shape:?}",
                    config.in_channels
                )));
            }
        }
        let mut h = self
            .conv_in
            .forward(gpu, &ChannelSlices::whole(image.clone())?)?;
        for level in &self.down {
            for block in &level.blocks {
                h = block.forward(gpu, &h)?;
            }
            if let Some(downsample) = &level.downsample {
                h = downsample.forward(gpu, &h)?;
            }
        }
        let h = self.mid.forward(gpu, &h)?;
        let moments = self.head.forward(gpu, &h)?.into_whole(gpu)?;
        // Channels come first, so the mean is a view of the first half.
        Ok(moments.narrow(0, config.z_channels)?)
    }
}
