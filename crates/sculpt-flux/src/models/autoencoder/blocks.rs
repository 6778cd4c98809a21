//! The layers both halves are made of: convolutions, GroupNorm, resnet
//! blocks, the single-head attention block, and the resamplers between
//! levels. Activations are one image, [channels, height, width], in
//! channel slices where one binding cannot hold them (see `slices`).

use sculpt_gpu::{
    Gpu, Tensor,
    kernels::{
        attention::{AttentionOptions, HeadView, attention},
        conv::{Conv2dConfig, conv2d_accumulate, conv2d_channel_slice},
        elementwise::{Binary, Unary, binary, unary},
        layout::permute,
        linear::LinearWeight,
        norm::group_norm,
        resample::upsample_nearest_2x,
    },
};

use crate::weights::{Linear, Loader};

use super::{GROUP_NORM_EPS, GROUP_NORM_GROUPS, slices::ChannelSlices};
use crate::models::flux1::FluxError;

/// A 2-D convolution with bias: `{name}.weight` [out, in, k, k] and
/// `{name}.bias` [out].
pub(crate) struct Conv {
    weight: Tensor,
    bias: Tensor,
    config: Conv2dConfig,
}

impl Conv {
    pub async fn load(
        loader: &mut Loader<'_>,
        name: &str,
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        config: Conv2dConfig,
    ) -> Result<Self, FluxError> {
        Ok(Self {
            weight: loader
                .f32_tensor(
                    &format!("{name}.weight"),
                    &[out_channels, in_channels, kernel, kernel],
                )
                .await?,
            bias: loader.vector(&format!("{name}.bias"), out_channels).await?,
            config,
        })
    }

    /// 3×3 with one pixel of zero padding: the size stays.
    pub async fn same(
        loader: &mut Loader<'_>,
        name: &str,
        in_channels: usize,
        out_channels: usize,
    ) -> Result<Self, FluxError> {
        Self::load(
            loader,
            name,
            in_channels,
            out_channels,
            3,
            Conv2dConfig::SAME,
        )
        .await
    }

    /// Each output slice is the sum of every input slice's share, the first
    /// with the bias.
    pub fn forward(&self, gpu: &Gpu, x: &ChannelSlices) -> Result<ChannelSlices, FluxError> {
        let &[out_channels, _, kernel_height, kernel_width] = self.weight.shape() else {
            unreachable!("loaded as [out, in, k, k]");
        };
        let (height, width) = x.size();
        let padding = self.config.padding;
        let stride = self.config.stride;
        let out_height = (height + padding.top + padding.bottom - kernel_height) / stride + 1;
        let out_width = (width + padding.left + padding.right - kernel_width) / stride + 1;
        let count = ChannelSlices::count_for(gpu, out_channels, out_height, out_width)?;
        let per_input_slice = x.slice_channels();
        ChannelSlices::build(
            out_channels,
            out_height,
            out_width,
            count,
            |first, channels| {
                let weight = self.weight.narrow(first, channels)?;
                let bias = self.bias.narrow(first, channels)?;
                let (head, rest) = x.slices().split_first().expect("at least one slice");
                let out = conv2d_channel_slice(gpu, head, &weight, 0, Some(&bias), self.config)?;
                for (index, slice) in rest.iter().enumerate() {
                    let first_in = (index + 1) * per_input_slice;
                    conv2d_accumulate(gpu, slice, &weight, first_in, &out, self.config)?;
                }
                Ok(out)
            },
        )
    }
}

/// GroupNorm over 32 groups with a learned scale and shift per channel.
pub(crate) struct GroupNorm {
    weight: Tensor,
    bias: Tensor,
}

impl GroupNorm {
    pub async fn load(
        loader: &mut Loader<'_>,
        name: &str,
        channels: usize,
    ) -> Result<Self, FluxError> {
        Ok(Self {
            weight: loader.vector(&format!("{name}.weight"), channels).await?,
            bias: loader.vector(&format!("{name}.bias"), channels).await?,
        })
    }

    /// Slice by slice: each holds whole groups.
    pub fn forward(&self, gpu: &Gpu, x: &ChannelSlices) -> Result<ChannelSlices, FluxError> {
        let groups = GROUP_NORM_GROUPS / x.slices().len();
        x.map(|first, slice| {
            let channels = slice.shape()[0];
            Ok(group_norm(
                gpu,
                slice,
                groups,
                &self.weight.narrow(first, channels)?,
                &self.bias.narrow(first, channels)?,
                GROUP_NORM_EPS,
            )?)
        })
    }

    /// GroupNorm then SiLU, the way every convolution but the first is entered.
    pub fn forward_silu(&self, gpu: &Gpu, x: &ChannelSlices) -> Result<ChannelSlices, FluxError> {
        self.forward(gpu, x)?
            .map(|_, slice| Ok(unary(gpu, Unary::Silu, slice)?))
    }
}

/// Two norm-SiLU-convolutions added to the input; a 1×1 convolution
/// (`nin_shortcut`) brings the input to the output's width when they differ.
pub(crate) struct ResnetBlock {
    norm1: GroupNorm,
    conv1: Conv,
    norm2: GroupNorm,
    conv2: Conv,
    nin_shortcut: Option<Conv>,
}

impl ResnetBlock {
    pub async fn load(
        loader: &mut Loader<'_>,
        name: &str,
        in_channels: usize,
        out_channels: usize,
    ) -> Result<Self, FluxError> {
        Ok(Self {
            norm1: GroupNorm::load(loader, &format!("{name}.norm1"), in_channels).await?,
            conv1: Conv::same(loader, &format!("{name}.conv1"), in_channels, out_channels).await?,
            norm2: GroupNorm::load(loader, &format!("{name}.norm2"), out_channels).await?,
            conv2: Conv::same(loader, &format!("{name}.conv2"), out_channels, out_channels).await?,
            nin_shortcut: if in_channels == out_channels {
                None
            } else {
                Some(
                    Conv::load(
                        loader,
                        &format!("{name}.nin_shortcut"),
                        in_channels,
                        out_channels,
                        1,
                        Conv2dConfig::POINTWISE,
                    )
                    .await?,
                )
            },
        })
    }

    pub fn forward(&self, gpu: &Gpu, x: &ChannelSlices) -> Result<ChannelSlices, FluxError> {
        let h = self.conv1.forward(gpu, &self.norm1.forward_silu(gpu, x)?)?;
        let h = self
            .conv2
            .forward(gpu, &self.norm2.forward_silu(gpu, &h)?)?;
        let shortcut = match &self.nin_shortcut {
            Some(conv) => conv.forward(gpu, x)?,
            None => x.clone(),
        };
        shortcut.zip(&h, |a, b| Ok(binary(gpu, Binary::Add, a, b)?))
    }
}

/// Self-attention of every pixel to every pixel, one head as wide as the
/// channels, added to the input. The checkpoint stores q, k, v and
/// `proj_out` as 1×1 convolutions; on pixels laid out [pixels, channels]
/// they are linear layers, and q, k, v become one projection whose output
/// the attention kernel reads in place.
pub(crate) struct AttnBlock {
    norm: GroupNorm,
    qkv: Linear,
    proj_out: Linear,
    channels: usize,
}

impl AttnBlock {
    pub async fn load(
        loader: &mut Loader<'_>,
        name: &str,
        channels: usize,
    ) -> Result<Self, FluxError> {
        let norm = GroupNorm::load(loader, &format!("{name}.norm"), channels).await?;
        let kernel_shape = [channels, channels, 1, 1];
        let mut qkv_weight = Vec::with_capacity(3 * channels * channels);
        let mut qkv_bias = Vec::with_capacity(3 * channels);
        for part in ["q", "k", "v"] {
            qkv_weight.extend(
                loader
                    .f32_values(&format!("{name}.{part}.weight"), &kernel_shape)
                    .await?,
            );
            qkv_bias.extend(
                loader
                    .f32_values(&format!("{name}.{part}.bias"), &[channels])
                    .await?,
            );
        }
        let gpu = loader.gpu();
        let qkv = Linear::new(
            LinearWeight::from_f32(gpu, &qkv_weight, 3 * channels, channels)?,
            Some(Tensor::from_slice(gpu, &qkv_bias, &[3 * channels])?),
        );
        let proj_weight = loader
            .f32_values(&format!("{name}.proj_out.weight"), &kernel_shape)
            .await?;
        let proj_out = Linear::new(
            LinearWeight::from_f32(gpu, &proj_weight, channels, channels)?,
            Some(
                loader
                    .vector(&format!("{name}.proj_out.bias"), channels)
                    .await?,
            ),
        );
        Ok(Self {
            norm,
            qkv,
            proj_out,
            channels,
        })
    }

    /// At the lowest resolution, where the activation is one slice (joining
    /// them is an error naming the size when it is not).
    pub fn forward(&self, gpu: &Gpu, x: &ChannelSlices) -> Result<ChannelSlices, FluxError> {
        let channels = self.channels;
        let normed = self.norm.forward(gpu, x)?.into_whole(gpu)?;
        let x = x.clone().into_whole(gpu)?;
        let pixels = x.elem_count() / channels;
        let normed = normed.reshape(&[channels, pixels])?;
        let tokens = permute(gpu, &normed, &[1, 0])?;
        let qkv = self.qkv.forward(gpu, &tokens)?;
        let attended = attention(
            gpu,
            HeadView::packed_qkv(&qkv, 0, 1)?,
            HeadView::packed_qkv(&qkv, 1, 1)?,
            HeadView::packed_qkv(&qkv, 2, 1)?,
            1,
            channels,
            1.0 / (channels as f32).sqrt(),
            AttentionOptions::default(),
        )?;
        let projected = self.proj_out.forward(gpu, &attended)?;
        let back = permute(gpu, &projected, &[1, 0])?.reshape(x.shape())?;
        ChannelSlices::whole(binary(gpu, Binary::Add, &x, &back)?)
    }
}

/// The decoder's step up a level: every pixel repeated 2×2, then a 3×3
/// convolution.
pub(crate) struct Upsample {
    conv: Conv,
}

impl Upsample {
    pub async fn load(
        loader: &mut Loader<'_>,
        name: &str,
        channels: usize,
    ) -> Result<Self, FluxError> {
        Ok(Self {
            conv: Conv::same(loader, &format!("{name}.conv"), channels, channels).await?,
        })
    }

    /// The doubled activation may take more slices than its input: each
    /// is upsampled from the part of one input slice it covers.
    pub fn forward(&self, gpu: &Gpu, x: &ChannelSlices) -> Result<ChannelSlices, FluxError> {
        let (height, width) = x.size();
        let (channels, height, width) = (x.channels(), 2 * height, 2 * width);
        let count = ChannelSlices::count_for(gpu, channels, height, width)?.max(x.slices().len());
        let upsampled = ChannelSlices::build(channels, height, width, count, |first, count| {
            Ok(upsample_nearest_2x(gpu, &x.channel_range(first, count)?)?)
        })?;
        self.conv.forward(gpu, &upsampled)
    }
}

/// The encoder's step down a level: a 3×3 convolution of stride 2 over the
/// image padded by one zero row and column at the bottom and right.
pub(crate) async fn downsample(
    loader: &mut Loader<'_>,
    name: &str,
    channels: usize,
) -> Result<Conv, FluxError> {
    Conv::load(
        loader,
        &format!("{name}.conv"),
        channels,
        channels,
        3,
        Conv2dConfig::DOWNSAMPLE,
    )
    .await
}

/// The last layers of both halves: GroupNorm, SiLU, 3×3 convolution to the
/// output's channels.
pub(crate) struct OutputHead {
    norm_out: GroupNorm,
    conv_out: Conv,
}

impl OutputHead {
    pub async fn load(
        loader: &mut Loader<'_>,
        prefix: &str,
        in_channels: usize,
        out_channels: usize,
    ) -> Result<Self, FluxError> {
        Ok(Self {
            norm_out: GroupNorm::load(loader, &format!("{prefix}.norm_out"), in_channels).await?,
            conv_out: Conv::same(
                loader,
                &format!("{prefix}.conv_out"),
                in_channels,
                out_channels,
            )
            .await?,
        })
    }

    pub fn forward(&self, gpu: &Gpu, x: &ChannelSlices) -> Result<ChannelSlices, FluxError> {
        self.conv_out
            .forward(gpu, &self.norm_out.forward_silu(gpu, x)?)
    }
}

/// The resnet-attention-resnet block at the lowest resolution (`mid`).
pub(crate) struct MidBlock {
    block_1: ResnetBlock,
    attn_1: AttnBlock,
    block_2: ResnetBlock,
}

impl MidBlock {
    pub async fn load(
        loader: &mut Loader<'_>,
        prefix: &str,
        channels: usize,
    ) -> Result<Self, FluxError> {
        Ok(Self {
            block_1: ResnetBlock::load(
                loader,
                &format!("{prefix}.mid.block_1"),
                channels,
                channels,
            )
            .await?,
            attn_1: AttnBlock::load(loader, &format!("{prefix}.mid.attn_1"), channels).await?,
            block_2: ResnetBlock::load(
                loader,
                &format!("{prefix}.mid.block_2"),
                channels,
                channels,
            )
            .await?,
        })
    }

    pub fn forward(&self, gpu: &Gpu, x: &ChannelSlices) -> Result<ChannelSlices, FluxError> {
        let h = self.block_1.forward(gpu, x)?;
        let h = self.attn_1.forward(gpu, &h)?;
        self.block_2.forward(gpu, &h)
    }
}
