//! Embeddings (`embed.wgsl`): token-id lookup into a table (CLIP, T5) and
//! the sinusoidal embedding of FLUX's timestep and guidance.

use crate::{
    Gpu, GpuError, Tensor,
    runtime::{launch::linear_grid, pipelines::KernelSource},
};

const SOURCE: KernelSource = KernelSource {
    name: "embed.wgsl",
    parts: &[include_str!("embed.wgsl")],
    enables: &[],
};
const WORKGROUP: usize = 256;

/// FLUX scales timesteps in [0, 1] to [0, 1000] before embedding them.
pub const FLUX_TIME_FACTOR: f32 = 1000.0;
/// Slowest period of the sinusoids: frequencies run from 1 down to 1/MAX_PERIOD.
pub const MAX_PERIOD: f64 = 10_000.0;

/// Rows `ids` of `table` [vocab, dim]: a tensor [ids.len(), dim]. An id
/// outside the vocabulary is an error here, before anything reaches the GPU.
pub fn embedding(gpu: &Gpu, table: &Tensor, ids: &[u32]) -> Result<Tensor, GpuError> {
    let &[vocab, dim] = table.shape() else {
        return Err(GpuError::Shape(format!(
            "an embedding table is [vocab, dim], not {:?}",
            table.shape()
        )));
    };
    if let Some(bad) = ids.iter().find(|&&id| id as usize >= vocab) {
        return Err(GpuError::Shape(format!(
            "token id {bad} is outside the vocabulary of {vocab}"
        )));
    }
    let out = Tensor::uninit(gpu, &[ids.len(), dim])?;
    if ids.is_empty() || dim == 0 {
        return Ok(out);
    }
    // Tensors hold f32; the ids travel as their bit patterns, unchanged by
    // the upload, and the kernel reads them as u32.
    let id_bits = Tensor::from_slice(gpu, bytemuck::cast_slice(ids), &[ids.len()])?;
    let len = ids.len() * dim;
    gpu.launch(
        &SOURCE,
        "gather",
        &[],
        &[table.buffer(), id_bits.buffer(), out.buffer()],
        &[len as u32, dim as u32, table.offset()],
        linear_grid(len.div_ceil(WORKGROUP)),
    );
    Ok(out)
}

/// Sinusoidal embedding of `t` [n] into [n, dim]: with `half = dim / 2` and
/// `f_k = exp(−ln(MAX_PERIOD) · k / half)`, row `r` is
/// `[cos(t_r · time_factor · f_k) for k < half, sin(...) for k < half]`
/// (cos first, as FLUX's `timestep_embedding`; FLUX uses dim 256 and
/// [`FLUX_TIME_FACTOR`] for both the timestep and the guidance).
pub fn timestep_embedding(
    gpu: &Gpu,
    t: &Tensor,
    dim: usize,
    time_factor: f32,
) -> Result<Tensor, GpuError> {
    if t.shape().len() != 1 || dim == 0 || !dim.is_multiple_of(2) {
        return Err(GpuError::Shape(format!(
            "timestep embedding wants t [n] and an even dim, not {:?} and {dim}",
            t.shape()
        )));
    }
    let out = Tensor::uninit(gpu, &[t.elem_count(), dim])?;
    let half = dim / 2;
    let len = t.elem_count() * dim;
    let log_frequency_step = (-MAX_PERIOD.ln() / half as f64) as f32;
    gpu.launch(
        &SOURCE,
        "timestep",
        &[],
        &[t.buffer(), out.buffer()],
        &[
            len as u32,
            half as u32,
            t.offset(),
            time_factor.to_bits(),
            log_frequency_step.to_bits(),
        ],
        linear_grid(len.div_ceil(WORKGROUP)),
    );
    Ok(out)
}
