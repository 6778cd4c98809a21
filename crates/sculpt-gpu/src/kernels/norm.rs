//! Normalizations (`norm.wgsl`): LayerNorm and RMSNorm over the last axis,
//! GroupNorm over [channels, height, width]. Statistics are accumulated in f32
//! with a two-pass mean/variance (see the WGSL for why that is stable).
//!
//! FLUX uses LayerNorm without affine parameters (eps 1e-6), RMSNorm with a
//! learned scale for its QK-norm over head_dim 128 (eps 1e-6) and GroupNorm
//! with 32 groups in its autoencoder (eps 1e-6); CLIP's LayerNorm has weight
//! and bias (eps 1e-5); T5's layer norm is an RMSNorm.

use crate::{
    Gpu, GpuError, Tensor,
    runtime::{
        launch::linear_grid,
        pipelines::{Enable, KernelSource, ReducingKernel},
    },
};

const SOURCE: ReducingKernel = ReducingKernel {
    plain: KernelSource {
        name: "norm.wgsl",
        parts: &[include_str!("norm.wgsl"), include_str!("reduce.wgsl")],
        enables: &[],
    },
    subgroups: KernelSource {
        name: "norm.wgsl + subgroups",
        parts: &[
            include_str!("norm.wgsl"),
            include_str!("reduce_subgroups.wgsl"),
        ],
        enables: &[Enable::Subgroups],
    },
};
const WORKGROUP: usize = 256;
/// Elements of a group whose statistics one workgroup gathers (`CHUNK` in the WGSL).
const GROUP_NORM_CHUNK: usize = 4096;

/// `(x - mean) / sqrt(var + eps)` over the last axis, then `· weight + bias`
/// when `affine` is given (both of the size of the last axis).
pub fn layer_norm(
    gpu: &Gpu,
    x: &Tensor,
    affine: Option<(&Tensor, &Tensor)>,
    eps: f32,
) -> Result<Tensor, GpuError> {
    let (rows, width) = rows_and_width("layer norm", x)?;
    let (norm, weight, bias) = match affine {
        None => (RowNorm::Layer, x, x),
        Some((weight, bias)) => {
            expect_row_vector("layer norm weight", weight, width)?;
            expect_row_vector("layer norm bias", bias, width)?;
            (RowNorm::LayerAffine, weight, bias)
        }
    };
    row_norm(gpu, norm, "layer_norm", [x, weight, bias], rows, width, eps)
}

/// `x / sqrt(mean(x²) + eps) · weight` over the last axis, `weight` of its size.
pub fn rms_norm(gpu: &Gpu, x: &Tensor, weight: &Tensor, eps: f32) -> Result<Tensor, GpuError> {
    let (rows, width) = rows_and_width("rms norm", x)?;
    expect_row_vector("rms norm weight", weight, width)?;
    row_norm(
        gpu,
        RowNorm::Rms,
        "rms_norm",
        [x, weight, x],
        rows,
        width,
        eps,
    )
}

/// The row kernels' `NORM` override.
#[derive(Clone, Copy)]
enum RowNorm {
    Layer = 0,
    LayerAffine = 1,
    Rms = 2,
}

/// One launch of `row_norm` over `[x, weight, bias]`; operands `norm` does
/// not read are bound to `x`.
fn row_norm(
    gpu: &Gpu,
    norm: RowNorm,
    name: &str,
    [x, weight, bias]: [&Tensor; 3],
    rows: usize,
    width: usize,
    eps: f32,
) -> Result<Tensor, GpuError> {
    let out = Tensor::uninit(gpu, x.shape())?;
    let params = RowParams {
        weight_offset: weight.offset(),
        bias_offset: bias.offset(),
        ..RowParams::new(rows, width, x, eps)
    };
    // Narrow rows (QK-norm's 128) would leave most of 256 threads idle.
    let threads = if width <= 256 { 64.0 } else { 256.0 };
    gpu.launch(
        SOURCE.for_device(gpu),
        "row_norm",
        &[("NORM", norm as u32 as f64), ("WORKGROUP", threads)],
        &[
            x.f32_buffer(name)?,
            weight.f32_buffer(name)?,
            bias.f32_buffer(name)?,
            out.buffer(),
        ],
        &params.words(),
        linear_grid(rows),
    );
    Ok(out)
}

/// GroupNorm of `x` [channels, height, width] (or [1, channels, height, width]):
/// the channels fall into `groups` consecutive groups, each normalized over
/// all its elements, then `· weight[c] + bias[c]` per channel.
pub fn group_norm(
    gpu: &Gpu,
    x: &Tensor,
    groups: usize,
    weight: &Tensor,
    bias: &Tensor,
    eps: f32,
) -> Result<Tensor, GpuError> {
    let (channels, channel_len) = match x.shape() {
        [c, h, w] | [1, c, h, w] => (*c, h * w),
        shape => {
            return Err(GpuError::Shape(format!(
                "group norm wants [channels, height, width] or batch 1, not {shape:?}"
            )));
        }
    };
    if groups == 0 || !channels.is_multiple_of(groups) || channel_len == 0 {
        return Err(GpuError::Shape(format!(
            "group norm: {channels} channels of {channel_len} elements cannot form {groups} groups"
        )));
    }
    expect_row_vector("group norm weight", weight, channels)?;
    expect_row_vector("group norm bias", bias, channels)?;
    let channels_per_group = channels / groups;
    let chunks_per_group = (channels_per_group * channel_len).div_ceil(GROUP_NORM_CHUNK);
    let params = RowParams {
        weight_offset: weight.offset(),
        bias_offset: bias.offset(),
        groups: groups as u32,
        chunks_per_group: chunks_per_group as u32,
        channel_len: channel_len as u32,
        channels_per_group: channels_per_group as u32,
        ..RowParams::new(0, 0, x, eps)
    }
    .words();

    // (mean, M2) per chunk, then (mean, 1/std) per group: two f32 each.
    let chunk_stats = Tensor::uninit(gpu, &[groups * chunks_per_group, 2])?;
    let group_stats = Tensor::uninit(gpu, &[groups, 2])?;
    let out = Tensor::uninit(gpu, x.shape())?;
    gpu.launch(
        SOURCE.for_device(gpu),
        "group_norm_chunk_stats",
        &[],
        &[x.f32_buffer("group_norm")?, chunk_stats.buffer()],
        &params,
        linear_grid(groups * chunks_per_group),
    );
    gpu.launch(
        SOURCE.for_device(gpu),
        "group_norm_merge",
        &[],
        &[chunk_stats.buffer(), group_stats.buffer()],
        &params,
        linear_grid(groups),
    );
    gpu.launch(
        SOURCE.for_device(gpu),
        "group_norm_apply",
        &[],
        &[
            x.f32_buffer("group_norm")?,
            weight.f32_buffer("group_norm")?,
            bias.f32_buffer("group_norm")?,
            group_stats.buffer(),
            out.buffer(),
        ],
        &params,
        linear_grid(x.elem_count().div_ceil(WORKGROUP)),
    );
    Ok(out)
}

fn rows_and_width(what: &str, x: &Tensor) -> Result<(usize, usize), GpuError> {
    let width = x.last_dim();
    if x.shape().is_empty() || width == 0 {
        return Err(GpuError::Shape(format!(
            "{what} needs a non-empty last axis, not {:?}",
            x.shape()
        )));
    }
    Ok((x.elem_count() / width, width))
}

fn expect_row_vector(what: &str, t: &Tensor, len: usize) -> Result<(), GpuError> {
    if t.elem_count() != len || t.shape().len() != 1 {
        return Err(GpuError::Shape(format!(
            "{what} {:?} must be a vector of {len}",
            t.shape()
        )));
    }
    Ok(())
}

/// `Params` in norm.wgsl, field for field.
struct RowParams {
    rows: u32,
    width: u32,
    x_offset: u32,
    weight_offset: u32,
    bias_offset: u32,
    eps: f32,
    groups: u32,
    chunks_per_group: u32,
    channel_len: u32,
    channels_per_group: u32,
}

impl RowParams {
    fn new(rows: usize, width: usize, x: &Tensor, eps: f32) -> Self {
        RowParams {
            rows: rows as u32,
            width: width as u32,
            x_offset: x.offset(),
            weight_offset: 0,
            bias_offset: 0,
            eps,
            groups: 0,
            chunks_per_group: 0,
            channel_len: 0,
            channels_per_group: 0,
        }
    }

    fn words(&self) -> [u32; 10] {
        [
            self.rows,
            self.width,
            self.x_offset,
            self.weight_offset,
            self.bias_offset,
            self.eps.to_bits(),
            self.groups,
            self.chunks_per_group,
            self.channel_len,
            self.channels_per_group,
        ]
    }
}
