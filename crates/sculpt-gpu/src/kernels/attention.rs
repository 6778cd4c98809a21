//! Fused multi-head attention (`attention.wgsl`): online softmax over key
//! tiles, scores in f32, no [Lq, Lk] matrix in memory.

use crate::{Gpu, GpuError, Tensor, runtime::pipelines::KernelSource};

const SOURCE: KernelSource = KernelSource {
    name: "attention.wgsl",
    parts: &[include_str!("attention.wgsl")],
    enables: &[],
};
const THREADS: usize = 64;
const DIMS_PER_THREAD: usize = 32;
/// The widest head [`attention`] takes: one query per workgroup, each of
/// its threads holding 32 dimensions.
pub const MAX_HEAD_DIM: usize = THREADS * DIMS_PER_THREAD;

/// Where one of q, k, v lives: a tensor read through strides, so that
/// attention reads projections where they are instead of permuting them.
#[derive(Clone, Copy)]
pub struct HeadView<'a> {
    tensor: &'a Tensor,
    /// Elements from the tensor's start to head 0 of token 0.
    offset: usize,
    /// Elements between consecutive tokens, and between consecutive heads.
    token_stride: usize,
    head_stride: usize,
    tokens: usize,
}

impl<'a> HeadView<'a> {
    /// A [heads, tokens, head_dim] tensor.
    pub fn heads_first(tensor: &'a Tensor) -> Result<Self, GpuError> {
        let [_heads, tokens, head_dim] = dims3(tensor, "[heads, tokens, head_dim]")?;
        Ok(Self {
            tensor,
            offset: 0,
            token_stride: head_dim,
            head_stride: tokens * head_dim,
            tokens,
        })
    }

    /// A [tokens, heads, head_dim] tensor (or [tokens, heads · head_dim]
    /// with `heads` given).
    pub fn tokens_first(tensor: &'a Tensor, heads: usize) -> Result<Self, GpuError> {
        let tokens = tensor.shape().first().copied().unwrap_or(0);
        let width = tensor.elem_count() / tokens.max(1);
        if heads == 0 || !width.is_multiple_of(heads) {
            return Err(GpuError::Shape(format!(
                "attention: {:?} does not split into {heads} heads",
                tensor.shape()
            )));
        }
        Ok(Self {
            tensor,
            offset: 0,
            token_stride: width,
            head_stride: width / heads,
            tokens,
        })
    }

    /// Part `which` (0 = q, 1 = k, 2 = v) of a packed projection
    /// [tokens, 3 · heads · head_dim], as FLUX's fused qkv linear produces.
    pub fn packed_qkv(tensor: &'a Tensor, which: usize, heads: usize) -> Result<Self, GpuError> {
        let tokens = tensor.shape().first().copied().unwrap_or(0);
        let width = tensor.elem_count() / tokens.max(1);
        if which > 2 || heads == 0 || !width.is_multiple_of(3 * heads) {
            return Err(GpuError::Shape(format!(
                "attention: {:?} is not a packed qkv of {heads} heads",
                tensor.shape()
            )));
        }
        Ok(Self {
            tensor,
            offset: which * width / 3,
            token_stride: width,
            head_stride: width / (3 * heads),
            tokens,
        })
    }
}

fn dims3(tensor: &Tensor, what: &str) -> Result<[usize; 3], GpuError> {
    match tensor.shape() {
        &[a, b, c] => Ok([a, b, c]),
        shape => Err(GpuError::Shape(format!(
            "attention: {shape:?} is not {what}"
        ))),
    }
}

/// Options beyond the plain scaled dot product.
#[derive(Clone, Copy, Default)]
pub struct AttentionOptions<'a> {
    /// Each query sees only keys at or before its own position (CLIP).
    pub causal: bool,
    /// Added to the scores: [heads, lq + lk − 1], indexed by key − query +
    /// lq − 1 (T5's relative position bias).
    pub relative_bias: Option<&'a Tensor>,
}

/// Attention over `heads` heads of `head_dim` (any width from 1 to 2048;
/// multiples of 32 use every thread); returns [lq, heads · head_dim], tokens first, ready for the output
/// projection.
#[allow(clippy::too_many_arguments)]
pub fn attention(
    gpu: &Gpu,
    q: HeadView,
    k: HeadView,
    v: HeadView,
    heads: usize,
    head_dim: usize,
    scale: f32,
    options: AttentionOptions,
) -> Result<Tensor, GpuError> {
    if head_dim == 0 || head_dim > MAX_HEAD_DIM {
        return Err(GpuError::Shape(format!(
            "attention: head_dim {head_dim} must be from 1 to {MAX_HEAD_DIM}"
        )));
    }
    let (lq, lk) = (q.tokens, k.tokens);
    if v.tokens != lk || lq == 0 || lk == 0 {
        return Err(GpuError::Shape(format!(
            "attention: {lq} queries, {lk} keys and {} values",
            v.tokens
        )));
    }
    for view in [&q, &k, &v] {
        let last = view.offset
            + (view.tokens - 1) * view.token_stride
            + (heads - 1) * view.head_stride
            + head_dim;
        if last > view.tensor.elem_count() {
            return Err(GpuError::Shape(format!(
                "attention: {heads} heads of {head_dim} do not fit {:?}",
                view.tensor.shape()
            )));
        }
    }
    if let Some(bias) = options.relative_bias
        && bias.elem_count() != heads * (lq + lk - 1)
    {
        return Err(GpuError::Shape(format!(
            "attention: relative bias {:?} is not [{heads}, {}]",
            bias.shape(),
            lq + lk - 1
        )));
    }
    let out = Tensor::uninit(gpu, &[lq, heads * head_dim])?;
    // The kernel lays a head out rounded up to whole 32-dimension parts.
    let queries_per_group = THREADS / head_dim.div_ceil(DIMS_PER_THREAD);
    let bias = options.relative_bias.unwrap_or(q.tensor);
    let params = [
        lq as u32,
        lk as u32,
        q.tensor.offset() + q.offset as u32,
        k.tensor.offset() + k.offset as u32,
        v.tensor.offset() + v.offset as u32,
        out.offset(),
        options.relative_bias.map_or(0, Tensor::offset),
        q.token_stride as u32,
        q.head_stride as u32,
        k.token_stride as u32,
        k.head_stride as u32,
        v.token_stride as u32,
        v.head_stride as u32,
        (heads * head_dim) as u32,
        head_dim as u32,
        scale.to_bits(),
    ];
    gpu.launch(
        &SOURCE,
        "attention",
        &[
            ("HEAD_DIM", head_dim as f64),
            ("CAUSAL", f64::from(u8::from(options.causal))),
            (
                "HAS_RELATIVE_BIAS",
                f64::from(u8::from(options.relative_bias.is_some())),
            ),
        ],
        &[
            q.tensor.f32_buffer("attention")?,
            k.tensor.f32_buffer("attention")?,
            v.tensor.f32_buffer("attention")?,
            bias.f32_buffer("attention")?,
            out.buffer(),
        ],
        &params,
        [lq.div_ceil(queries_per_group) as u32, heads as u32, 1],
    );
    Ok(out)
}
