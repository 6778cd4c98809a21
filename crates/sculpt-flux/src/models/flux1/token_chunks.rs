//! Token chunks: the MLPs' hidden activations are 4× as wide as the hidden
//! width (12,288 features in FLUX.1), so at large images they outgrow one
//! storage binding (4,352 tokens × 12,288 f32 is 204 MiB at 1024²; WebGPU's
//! default binding is 128 MiB) while every other activation still fits.
//! An MLP acts on each token alone, so it runs on runs of tokens that fit
//! and the outputs, back at the hidden width, are joined. When all tokens
//! fit, it runs once on all of them, as it would without chunks.

use sculpt_gpu::{Gpu, GpuError, Tensor, kernels::layout::concat};

use super::FluxError;

/// `f` of `x` [tokens, …], run on as many tokens at a time as keep the
/// widest activation inside `f`, `widest` f32 per token, within one
/// binding; the outputs joined along the tokens.
pub(crate) fn by_token_chunks(
    gpu: &Gpu,
    x: &Tensor,
    widest: usize,
    mut f: impl FnMut(&Tensor) -> Result<Tensor, FluxError>,
) -> Result<Tensor, FluxError> {
    let tokens = x.shape().first().copied().unwrap_or(1);
    let per_chunk = tokens_per_chunk(gpu, widest)?;
    if per_chunk >= tokens {
        return f(x);
    }
    let outputs = (0..tokens)
        .step_by(per_chunk)
        .map(|start| f(&x.narrow(start, per_chunk.min(tokens - start))?))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(concat(gpu, &outputs.iter().collect::<Vec<_>>(), 0)?)
}

/// How many tokens of `width` f32 one binding holds (at least one, or an
/// error).
fn tokens_per_chunk(gpu: &Gpu, width: usize) -> Result<usize, FluxError> {
    let binding = gpu.max_binding_bytes();
    let row_bytes = (width.max(1) * 4) as u64;
    match binding / row_bytes {
        0 => Err(FluxError::Gpu(GpuError::TooLarge {
            what: format!("one token's activation of {width} features"),
            bytes: row_bytes,
            limit: binding,
        })),
        rows => Ok(usize::try_from(rows).unwrap_or(usize::MAX)),
    }
}
