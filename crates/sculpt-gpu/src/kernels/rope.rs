//! FLUX's rotary position embedding (`rope.wgsl`).
//!
//! # Layouts
//!
//! * The table is [tokens, head_dim / 2, 2]: for every token and pair `j`,
//!   `(cos θ, sin θ)` side by side, so the kernel reads one pair of angles
//!   per pair of values. It is built on the CPU ([`rope_table_values`]) in
//!   f64 and rounded once to f32: it depends only on the image size, so it is
//!   built once per generation, and computing angles up to ~100 radians in
//!   f64 keeps cos/sin within half an f32 ULP, which a GPU `cos` of a large
//!   f32 argument does not promise.
//! * q and k are rotated in [heads, tokens, head_dim] ([`RopeLayout::HeadsTokensDim`],
//!   candle's `[b, h, t, d]` with b = 1), the layout attention consumes: each
//!   head's [tokens, head_dim] block is contiguous. [`RopeLayout::TokensHeadsDim`]
//!   ([tokens, heads, head_dim], what the QKV projection produces before the
//!   transpose) is accepted too, so the rotation can also be applied first.
//!
//! Pairs are interleaved, as in candle-nn's `rope_i` and FLUX's reference:
//! `(x[2j], x[2j+1]) → (x0 cos − x1 sin, x0 sin + x1 cos)`.

use crate::{
    Gpu, GpuError, Tensor,
    runtime::{launch::linear_grid, pipelines::KernelSource},
};

const SOURCE: KernelSource = KernelSource {
    name: "rope.wgsl",
    parts: &[include_str!("rope.wgsl")],
    enables: &[],
};
const WORKGROUP: usize = 256;

/// FLUX.1's position axes: (text/index, image row, image column), in
/// pairs 8 + 28 + 28 = 64 = head_dim 128 / 2.
pub const FLUX_AXES_DIM: [usize; 3] = [16, 56, 56];
pub const FLUX_THETA: f64 = 10_000.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RopeLayout {
    /// [heads, tokens, head_dim]: what attention reads.
    HeadsTokensDim,
    /// [tokens, heads, head_dim]: what the QKV projection writes.
    TokensHeadsDim,
}

/// The cos/sin table, [tokens, sum(axes_dim) / 2, 2] flattened, for
/// `positions` [tokens, axes_dim.len()] flattened. Axis `a` of dimension `d`
/// contributes `d / 2` pairs with angle `position[a] · theta^(−2i/d)`, axes
/// concatenated in order (candle-transformers' FLUX `EmbedNd`).
pub fn rope_table_values(
    positions: &[f32],
    axes_dim: &[usize],
    theta: f64,
) -> Result<Vec<f32>, GpuError> {
    let axes = axes_dim.len();
    if axes == 0
        || !positions.len().is_multiple_of(axes)
        || axes_dim.iter().any(|d| !d.is_multiple_of(2) || *d == 0)
    {
        return Err(GpuError::Shape(format!(
            "rope table: {} positions cannot be [tokens, {axes}] for even axes {axes_dim:?}",
            positions.len()
        )));
    }
    let inverse_frequencies: Vec<(usize, f64)> = axes_dim
        .iter()
        .enumerate()
        .flat_map(|(axis, &dim)| {
            (0..dim / 2).map(move |i| (axis, theta.powf(-((2 * i) as f64) / dim as f64)))
        })
        .collect();
    let mut table = Vec::with_capacity(positions.len() / axes * inverse_frequencies.len() * 2);
    for token in positions.chunks_exact(axes) {
        for &(axis, frequency) in &inverse_frequencies {
            let angle = f64::from(token[axis]) * frequency;
            table.push(angle.cos() as f32);
            table.push(angle.sin() as f32);
        }
    }
    Ok(table)
}

/// [`rope_table_values`] uploaded as a tensor [tokens, head_dim / 2, 2].
pub fn rope_table(
    gpu: &Gpu,
    positions: &[f32],
    axes_dim: &[usize],
    theta: f64,
) -> Result<Tensor, GpuError> {
    let values = rope_table_values(positions, axes_dim, theta)?;
    let pairs: usize = axes_dim.iter().sum::<usize>() / 2;
    Tensor::from_slice(gpu, &values, &[values.len() / (2 * pairs), pairs, 2])
}

/// `x` (q or k, in `layout`) rotated by `table` [tokens, head_dim / 2, 2].
pub fn apply_rope(
    gpu: &Gpu,
    x: &Tensor,
    table: &Tensor,
    layout: RopeLayout,
) -> Result<Tensor, GpuError> {
    let (&[a, b, head_dim], &[table_tokens, half_dim, 2]) = (x.shape(), table.shape()) else {
        return Err(GpuError::Shape(format!(
            "rope wants x [heads, tokens, head_dim] or [tokens, heads, head_dim] and a table \
             [tokens, head_dim / 2, 2], not {:?} and {:?}",
            x.shape(),
            table.shape()
        )));
    };
    let (heads, tokens) = match layout {
        RopeLayout::HeadsTokensDim => (a, b),
        RopeLayout::TokensHeadsDim => (b, a),
    };
    if tokens != table_tokens || head_dim != 2 * half_dim || half_dim == 0 {
        return Err(GpuError::Shape(format!(
            "rope: x {:?} ({layout:?}) has {tokens} tokens of head_dim {head_dim}; the table {:?} \
             is for {table_tokens} tokens of head_dim {}",
            x.shape(),
            table.shape(),
            2 * half_dim
        )));
    }
    let out = Tensor::uninit(gpu, x.shape())?;
    let pairs = x.elem_count() / 2;
    let rows_per_token = match layout {
        RopeLayout::HeadsTokensDim => 1,
        RopeLayout::TokensHeadsDim => heads,
    };
    gpu.launch(
        &SOURCE,
        "rope",
        &[],
        &[
            x.f32_buffer("apply_rope")?,
            table.f32_buffer("apply_rope")?,
            out.buffer(),
        ],
        &[
            pairs as u32,
            half_dim as u32,
            tokens as u32,
            rows_per_token.max(1) as u32,
            x.offset(),
            table.offset(),
        ],
        linear_grid(pairs.div_ceil(WORKGROUP)),
    );
    Ok(out)
}
