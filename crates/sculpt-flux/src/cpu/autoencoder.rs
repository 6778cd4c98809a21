//! FLUX's autoencoder on the CPU: candle-transformers'
//! `models::flux::autoencoder`, with one change, its convolutions.
//!
//! candle-core 0.9.2's CPU `conv2d` decides whether an input is already laid
//! out channels-last by comparing strides only, so an ordinary [1, C, H, W]
//! input with C = H = W (64 channels at 64×64, which the built-in model's
//! decoder has at full size) is taken for channels-last and convolved
//! wrongly. [`Conv`] hands candle a truly channels-last input, for which that
//! test is right whatever the shape; the rest is candle-transformers' model
//! as it is (same tensor names, same arithmetic).

use candle_core::{D, Module, Result, Tensor};
use candle_nn::{Conv2dConfig, GroupNorm, VarBuilder, group_norm};
use candle_transformers::models::flux::autoencoder::Config;

/// A 2-D convolution given its input channels-last (see the module docs).
struct Conv(candle_nn::Conv2d);

impl Conv {
    fn new(
        in_c: usize,
        out_c: usize,
        kernel: usize,
        config: Conv2dConfig,
        vb: VarBuilder,
    ) -> Result<Self> {
        candle_nn::conv2d(in_c, out_c, kernel, config, vb).map(Self)
    }

    /// 3×3 keeping the size.
    fn same(in_c: usize, out_c: usize, vb: VarBuilder) -> Result<Self> {
        let config = Conv2dConfig {
            padding: 1,
            ..Default::default()
        };
        Self::new(in_c, out_c, 3, config, vb)
    }
}

impl Module for Conv {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let channels_last = xs
            .permute((0, 2, 3, 1))?
            .contiguous()?
            .permute((0, 3, 1, 2))?;
        self.0.forward(&channels_last)
    }
}

fn norm(channels: usize, vb: VarBuilder) -> Result<GroupNorm> {
    group_norm(32, channels, 1e-6, vb)
}

struct AttnBlock {
    q: Conv,
    k: Conv,
    v: Conv,
    proj_out: Conv,
    norm: GroupNorm,
}

impl AttnBlock {
    fn new(c: usize, vb: VarBuilder) -> Result<Self> {
        let pointwise = |name| Conv::new(c, c, 1, Default::default(), vb.pp(name));
        Ok(Self {
            q: pointwise("q")?,
            k: pointwise("k")?,
            v: pointwise("v")?,
            proj_out: pointwise("proj_out")?,
            norm: norm(c, vb.pp("norm"))?,
        })
    }
}

impl Module for AttnBlock {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let h = xs.apply(&self.norm)?;
        let (b, c, height, width) = h.dims4()?;
        let tokens = |conv: &Conv| h.apply(conv)?.flatten_from(2)?.t()?.unsqueeze(1);
        let (q, k, v) = (tokens(&self.q)?, tokens(&self.k)?, tokens(&self.v)?);
        let scores = (q.matmul(&k.t()?)? / (c as f64).sqrt())?;
        let attended = candle_nn::ops::softmax(&scores, D::Minus1)?.matmul(&v)?;
        let attended = attended.squeeze(1)?.t()?.reshape((b, c, height, width))?;
        attended.apply(&self.proj_out)? + xs
    }
}

struct ResnetBlock {
    norm1: GroupNorm,
    conv1: Conv,
    norm2: GroupNorm,
    conv2: Conv,
    nin_shortcut: Option<Conv>,
}

impl ResnetBlock {
    fn new(in_c: usize, out_c: usize, vb: VarBuilder) -> Result<Self> {
        let nin_shortcut = (in_c != out_c)
            .then(|| Conv::new(in_c, out_c, 1, Default::default(), vb.pp("nin_shortcut")))
            .transpose()?;
        Ok(Self {
            norm1: norm(in_c, vb.pp("norm1"))?,
            conv1: Conv::same(in_c, out_c, vb.pp("conv1"))?,
            norm2: norm(out_c, vb.pp("norm2"))?,
            conv2: Conv::same(out_c, out_c, vb.pp("conv2"))?,
            nin_shortcut,
        })
    }
}

impl Module for ResnetBlock {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let h = xs
            .apply(&self.norm1)?
            .silu()?
            .apply(&self.conv1)?
            .apply(&self.norm2)?
            .silu()?
            .apply(&self.conv2)?;
        match &self.nin_shortcut {
            None => xs + h,
            Some(conv) => xs.apply(conv)? + h,
        }
    }
}

/// The resnet–attention–resnet block at the lowest resolution.
struct Mid {
    block_1: ResnetBlock,
    attn_1: AttnBlock,
    block_2: ResnetBlock,
}

impl Mid {
    fn new(c: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            block_1: ResnetBlock::new(c, c, vb.pp("block_1"))?,
            attn_1: AttnBlock::new(c, vb.pp("attn_1"))?,
            block_2: ResnetBlock::new(c, c, vb.pp("block_2"))?,
        })
    }
}

impl Module for Mid {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        xs.apply(&self.block_1)?
            .apply(&self.attn_1)?
            .apply(&self.block_2)
    }
}

struct Level {
    blocks: Vec<ResnetBlock>,
    /// The encoder's stride-2 convolution or the decoder's 3×3 after a
    /// nearest 2× upsampling; none at one end.
    resample: Option<Conv>,
}

/// Image [1, 3, H, W] in [−1, 1] → the latent Gaussian's moments
/// [1, 2·z, H/8, W/8] (mean first).
pub(super) struct Encoder {
    conv_in: Conv,
    down: Vec<Level>,
    mid: Mid,
    norm_out: GroupNorm,
    conv_out: Conv,
}

impl Encoder {
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let mut block_in = cfg.ch;
        let conv_in = Conv::same(cfg.in_channels, block_in, vb.pp("conv_in"))?;
        let mut down = Vec::with_capacity(cfg.ch_mult.len());
        for (level, mult) in cfg.ch_mult.iter().enumerate() {
            let vb = vb.pp("down").pp(level);
            let mut blocks = Vec::with_capacity(cfg.num_res_blocks);
            for block in 0..cfg.num_res_blocks {
                blocks.push(ResnetBlock::new(
                    block_in,
                    cfg.ch * mult,
                    vb.pp("block").pp(block),
                )?);
                block_in = cfg.ch * mult;
            }
            // Stride 2 over the image padded at the bottom and right only.
            let stride_2 = Conv2dConfig {
                stride: 2,
                ..Default::default()
            };
            let resample = (level + 1 != cfg.ch_mult.len())
                .then(|| Conv::new(block_in, block_in, 3, stride_2, vb.pp("downsample.conv")))
                .transpose()?;
            down.push(Level { blocks, resample });
        }
        Ok(Self {
            conv_in,
            down,
            mid: Mid::new(block_in, vb.pp("mid"))?,
            norm_out: norm(block_in, vb.pp("norm_out"))?,
            conv_out: Conv::same(block_in, 2 * cfg.z_channels, vb.pp("conv_out"))?,
        })
    }
}

impl Module for Encoder {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let mut h = xs.apply(&self.conv_in)?;
        for level in &self.down {
            for block in &level.blocks {
                h = h.apply(block)?;
            }
            if let Some(conv) = &level.resample {
                h = h
                    .pad_with_zeros(D::Minus1, 0, 1)?
                    .pad_with_zeros(D::Minus2, 0, 1)?
                    .apply(conv)?;
            }
        }
        h.apply(&self.mid)?
            .apply(&self.norm_out)?
            .silu()?
            .apply(&self.conv_out)
    }
}

/// The autoencoder's own latent [1, z, h, w] → image [1, 3, 8h, 8w].
pub(super) struct Decoder {
    conv_in: Conv,
    mid: Mid,
    /// Lowest resolution first: the order they run in.
    up: Vec<Level>,
    norm_out: GroupNorm,
    conv_out: Conv,
}

impl Decoder {
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let mut block_in = cfg.ch * cfg.ch_mult.last().copied().unwrap_or(1);
        let conv_in = Conv::same(cfg.z_channels, block_in, vb.pp("conv_in"))?;
        let mid = Mid::new(block_in, vb.pp("mid"))?;
        let mut up = Vec::with_capacity(cfg.ch_mult.len());
        for (level, mult) in cfg.ch_mult.iter().enumerate().rev() {
            let vb = vb.pp("up").pp(level);
            let mut blocks = Vec::with_capacity(cfg.num_res_blocks + 1);
            for block in 0..=cfg.num_res_blocks {
                blocks.push(ResnetBlock::new(
                    block_in,
                    cfg.ch * mult,
                    vb.pp("block").pp(block),
                )?);
                block_in = cfg.ch * mult;
            }
            let resample = (level != 0)
                .then(|| Conv::same(block_in, block_in, vb.pp("upsample.conv")))
                .transpose()?;
            up.push(Level { blocks, resample });
        }
        Ok(Self {
            conv_in,
            mid,
            up,
            norm_out: norm(block_in, vb.pp("norm_out"))?,
            conv_out: Conv::same(block_in, cfg.out_ch, vb.pp("conv_out"))?,
        })
    }
}

impl Module for Decoder {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let mut h = xs.apply(&self.conv_in)?.apply(&self.mid)?;
        for level in &self.up {
            for block in &level.blocks {
                h = h.apply(block)?;
            }
            if let Some(conv) = &level.resample {
                let (_, _, height, width) = h.dims4()?;
                h = h.upsample_nearest2d(2 * height, 2 * width)?.apply(conv)?;
            }
        }
        h.apply(&self.norm_out)?.silu()?.apply(&self.conv_out)
    }
}
