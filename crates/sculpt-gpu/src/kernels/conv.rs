//! 2-D convolution (`conv.wgsl`) for the FLUX autoencoder: one image
//! [C_in, H, W], PyTorch weights [C_out, C_in, KH, KW], optional bias
//! [C_out], output [C_out, H_out, W_out].
//!
//! The kernel is a tiled implicit GEMM: each workgroup computes 64 output
//! channels × 64 output pixels, staging 16-deep slices of the weights and of
//! the gathered input windows in workgroup memory, each thread holding a
//! 4 × 4 block of outputs in registers (see the header of `conv.wgsl`).
//!
//! An input too large for one binding can be given as channel slices:
//! [`conv2d_channel_slice`] convolves the first, [`conv2d_accumulate`] adds
//! each other's share to its output.

use crate::{
    Gpu, GpuError, Tensor,
    runtime::{launch::linear_grid, pipelines::KernelSource},
};

const SOURCE: KernelSource = KernelSource {
    name: "conv.wgsl",
    parts: &[include_str!("conv.wgsl")],
    enables: &[],
};
/// Output channels and pixels per workgroup (`TILE_CHANNELS`, `TILE_PIXELS`).
const TILE_CHANNELS: usize = 64;
const TILE_PIXELS: usize = 64;

/// Zero padding around the image, in pixels per side.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Padding {
    pub top: usize,
    pub bottom: usize,
    pub left: usize,
    pub right: usize,
}

impl Padding {
    pub const fn uniform(pixels: usize) -> Self {
        Self {
            top: pixels,
            bottom: pixels,
            left: pixels,
            right: pixels,
        }
    }
}

/// Stride and padding of a convolution; the kernel size comes from the weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dConfig {
    pub stride: usize,
    pub padding: Padding,
}

impl Conv2dConfig {
    /// 3×3, stride 1, padding 1: same-size convolutions of the resnet blocks,
    /// `conv_in`, `conv_out` and the upsampler.
    pub const SAME: Self = Self {
        stride: 1,
        padding: Padding::uniform(1),
    };

    /// FLUX's `Downsample`: pad one zero column on the right and one zero row
    /// at the bottom, then a 3×3 convolution with stride 2 and no padding,
    /// halving even sizes.
    pub const DOWNSAMPLE: Self = Self {
        stride: 2,
        padding: Padding {
            top: 0,
            bottom: 1,
            left: 0,
            right: 1,
        },
    };

    /// Stride 1, no padding: 1×1 shortcuts, attention projections,
    /// `quant_conv` / `post_quant_conv`.
    pub const POINTWISE: Self = Self {
        stride: 1,
        padding: Padding::uniform(0),
    };
}

/// The output size along one axis, if the padded input covers the kernel.
fn output_size(
    input: usize,
    before: usize,
    after: usize,
    kernel: usize,
    stride: usize,
) -> Option<usize> {
    (input + before + after)
        .checked_sub(kernel)
        .map(|reach| reach / stride + 1)
}

/// Convolves `x` [C_in, H, W] with `weight` [C_out, C_in, KH, KW] (PyTorch's
/// cross-correlation) and adds `bias` [C_out]. The output is
/// [C_out, (H + top + bottom − KH) / stride + 1, (W + left + right − KW) / stride + 1].
pub fn conv2d(
    gpu: &Gpu,
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    config: Conv2dConfig,
) -> Result<Tensor, GpuError> {
    ConvPlan::new(x, weight, None, bias, config)?.into_new_output(gpu, x, weight, bias)
}

/// The share of one channel slice of a larger input: `x` [C, H, W] holds
/// the input channels `first_in_channel..first_in_channel + C` of the
/// weights [C_out, C_in, KH, KW]. Returns a fresh output with `bias` added;
/// [`conv2d_accumulate`] adds the other slices' shares to it.
pub fn conv2d_channel_slice(
    gpu: &Gpu,
    x: &Tensor,
    weight: &Tensor,
    first_in_channel: usize,
    bias: Option<&Tensor>,
    config: Conv2dConfig,
) -> Result<Tensor, GpuError> {
    ConvPlan::new(x, weight, Some(first_in_channel), bias, config)?
        .into_new_output(gpu, x, weight, bias)
}

/// Adds the share of the channel slice `x` (as in
/// [`conv2d_channel_slice`], without bias) to `out`, which holds the
/// convolution's other shares.
pub fn conv2d_accumulate(
    gpu: &Gpu,
    x: &Tensor,
    weight: &Tensor,
    first_in_channel: usize,
    out: &Tensor,
    config: Conv2dConfig,
) -> Result<(), GpuError> {
    let plan = ConvPlan::new(x, weight, Some(first_in_channel), None, config)?;
    if out.shape() != plan.out_shape() {
        return Err(GpuError::Shape(format!(
            "conv2d of {:?} with weights {:?} gives {:?}, which cannot be added to {:?}",
            x.shape(),
            weight.shape(),
            plan.out_shape(),
            out.shape()
        )));
    }
    plan.launch(gpu, x, weight, None, out, true)
}

/// A checked convolution: sizes and where the input meets the weights.
struct ConvPlan {
    in_channels: usize,
    height: usize,
    width: usize,
    out_channels: usize,
    out_height: usize,
    out_width: usize,
    /// The weights' own input channels, and the first one `x` holds.
    weight_in_channels: usize,
    first_in_channel: usize,
    kh: usize,
    kw: usize,
    config: Conv2dConfig,
}

impl ConvPlan {
    /// `slice`: the first of the weights' input channels `x` holds, when it
    /// holds a slice of them rather than all.
    fn new(
        x: &Tensor,
        weight: &Tensor,
        slice: Option<usize>,
        bias: Option<&Tensor>,
        config: Conv2dConfig,
    ) -> Result<Self, GpuError> {
        let shape_error = |why: &str| {
            GpuError::Shape(format!(
                "conv2d of {:?} with weights {:?}{}: {why}",
                x.shape(),
                weight.shape(),
                bias.map_or(String::new(), |b| format!(" and bias {:?}", b.shape())),
            ))
        };
        let &[in_channels, height, width] = x.shape() else {
            return Err(shape_error("the input must be [channels, height, width]"));
        };
        let &[out_channels, weight_in_channels, kh, kw] = weight.shape() else {
            return Err(shape_error(
                "the weights must be [out channels, in channels, kernel height, kernel width]",
            ));
        };
        match slice {
            None if weight_in_channels != in_channels => {
                return Err(shape_error(
                    "the weights' input channels differ from the input's",
                ));
            }
            Some(first) if first + in_channels > weight_in_channels => {
                return Err(shape_error(&format!(
                    "input channels {first}..{} are not all among the weights'",
                    first + in_channels
                )));
            }
            _ => {}
        }
        if let Some(bias) = bias
            && bias.shape() != [out_channels]
        {
            return Err(shape_error(
                "the bias must have one value per output channel",
            ));
        }
        if config.stride == 0 {
            return Err(shape_error("the stride must be at least 1"));
        }
        if in_channels == 0 || out_channels == 0 || kh == 0 || kw == 0 {
            return Err(shape_error("channels and kernel sizes must not be 0"));
        }
        let Padding {
            top,
            bottom,
            left,
            right,
        } = config.padding;
        let (Some(out_height), Some(out_width)) = (
            output_size(height, top, bottom, kh, config.stride),
            output_size(width, left, right, kw, config.stride),
        ) else {
            return Err(shape_error(&format!(
                "the padded input is smaller than the kernel (padding {:?})",
                config.padding
            )));
        };
        Ok(Self {
            in_channels,
            height,
            width,
            out_channels,
            out_height,
            out_width,
            weight_in_channels,
            first_in_channel: slice.unwrap_or(0),
            kh,
            kw,
            config,
        })
    }

    fn out_shape(&self) -> [usize; 3] {
        [self.out_channels, self.out_height, self.out_width]
    }

    /// Convolves into a fresh output.
    fn into_new_output(
        self,
        gpu: &Gpu,
        x: &Tensor,
        weight: &Tensor,
        bias: Option<&Tensor>,
    ) -> Result<Tensor, GpuError> {
        let out = Tensor::uninit(gpu, &self.out_shape())?;
        self.launch(gpu, x, weight, bias, &out, false)?;
        Ok(out)
    }

    fn launch(
        &self,
        gpu: &Gpu,
        x: &Tensor,
        weight: &Tensor,
        bias: Option<&Tensor>,
        out: &Tensor,
        accumulate: bool,
    ) -> Result<(), GpuError> {
        let taps = self.kh * self.kw;
        let out_pixels = self.out_height * self.out_width;
        let params = [
            self.in_channels,
            self.height,
            self.width,
            self.out_channels,
            self.out_width,
            out_pixels,
            self.config.stride,
            self.config.padding.top,
            self.config.padding.left,
        ]
        .map(|word| u32::try_from(word).expect("sizes fit the binding limit"));
        let first_weight = u32::try_from(self.first_in_channel * taps)
            .expect("weight offsets fit the binding limit");
        let offsets = [
            x.offset(),
            weight.offset() + first_weight,
            bias.map_or(0, Tensor::offset),
            out.offset(),
            u32::try_from(self.weight_in_channels * taps).expect("weight rows fit u32"),
        ];
        let params: Vec<u32> = params.into_iter().chain(offsets).collect();

        let mut grid = linear_grid(out_pixels.div_ceil(TILE_PIXELS));
        grid[2] = u32::try_from(self.out_channels.div_ceil(TILE_CHANNELS))
            .expect("channel tiles fit u32");
        let kernel_size = [("KH", self.kh as f64), ("KW", self.kw as f64)];
        match bias {
            Some(bias) => gpu.launch(
                &SOURCE,
                "conv2d_bias",
                &kernel_size,
                &[
                    x.f32_buffer("conv2d")?,
                    weight.f32_buffer("conv2d")?,
                    bias.f32_buffer("conv2d")?,
                    out.buffer(),
                ],
                &params,
                grid,
            ),
            None => gpu.launch(
                &SOURCE,
                "conv2d",
                &[
                    kernel_size[0],
                    kernel_size[1],
                    ("ACCUMULATE", f64::from(u8::from(accumulate))),
                ],
                &[
                    x.f32_buffer("conv2d")?,
                    weight.f32_buffer("conv2d")?,
                    out.buffer(),
                ],
                &params,
                grid,
            ),
        }
        Ok(())
    }
}
