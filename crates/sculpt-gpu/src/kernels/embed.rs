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
    gather(gpu, &[(0, table)], vocab, dim, ids)
}

/// An embedding table [vocab, dim] in f32, kept as chunks of rows that each
/// fit one storage binding: CLIP-L's table (152 MB) and T5-XXL's (526 MB)
/// outgrow WebGPU's default binding of 128 MiB.
pub struct EmbeddingTable {
    /// (first row, [rows, dim]).
    chunks: Vec<(usize, Tensor)>,
    vocab: usize,
    dim: usize,
}

impl EmbeddingTable {
    /// Uploads `values` [vocab, dim], in as few chunks as the binding allows.
    pub fn from_f32(gpu: &Gpu, values: &[f32], vocab: usize, dim: usize) -> Result<Self, GpuError> {
        Self::from_f32_in_chunks(gpu, values, vocab, dim, gpu.max_binding_bytes())
    }

    /// As [`from_f32`](Self::from_f32), with chunks of at most
    /// `max_chunk_bytes` (tests use small chunks).
    pub fn from_f32_in_chunks(
        gpu: &Gpu,
        values: &[f32],
        vocab: usize,
        dim: usize,
        max_chunk_bytes: u64,
    ) -> Result<Self, GpuError> {
        if values.len() != vocab * dim || vocab == 0 || dim == 0 {
            return Err(GpuError::Shape(format!(
                "{} values are not an embedding table [{vocab}, {dim}]",
                values.len()
            )));
        }
        let row_bytes = (dim * 4) as u64;
        let rows_per_chunk = usize::try_from(max_chunk_bytes / row_bytes)
            .unwrap_or(usize::MAX)
            .min(vocab);
        if rows_per_chunk == 0 {
            return Err(GpuError::TooLarge {
                what: format!("one row of a [{vocab}, {dim}] embedding table"),
                bytes: row_bytes,
                limit: max_chunk_bytes,
            });
        }
        let chunks = (0..vocab)
            .step_by(rows_per_chunk)
            .map(|first| {
                let rows = rows_per_chunk.min(vocab - first);
                let chunk = &values[first * dim..(first + rows) * dim];
                Ok((first, Tensor::from_slice(gpu, chunk, &[rows, dim])?))
            })
            .collect::<Result<_, GpuError>>()?;
        Ok(Self { chunks, vocab, dim })
    }

    /// [vocab, dim].
    pub fn shape(&self) -> [usize; 2] {
        [self.vocab, self.dim]
    }

    /// How many chunks the table was split into.
    pub fn chunk_count(&self) -> usize {
        self.chunks.len()
    }

    /// Rows `ids`: a tensor [ids.len(), dim], each chunk writing the rows
    /// it holds. An id outside the vocabulary is an error.
    pub fn gather(&self, gpu: &Gpu, ids: &[u32]) -> Result<Tensor, GpuError> {
        let chunks: Vec<(usize, &Tensor)> = self.chunks.iter().map(|(f, t)| (*f, t)).collect();
        gather(gpu, &chunks, self.vocab, self.dim, ids)
    }
}

/// Rows `ids` of a table [vocab, dim] held as `chunks` of rows, each with
/// its first row.
fn gather(
    gpu: &Gpu,
    chunks: &[(usize, &Tensor)],
    vocab: usize,
    dim: usize,
    ids: &[u32],
) -> Result<Tensor, GpuError> {
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
    for &(first_row, table) in chunks {
        let rows = table.shape()[0];
        if !ids
            .iter()
            .any(|&id| (first_row..first_row + rows).contains(&(id as usize)))
        {
            continue;
        }
        gpu.launch(
            &SOURCE,
            "gather",
            &[],
            &[table.f32_buffer("gather")?, id_bits.buffer(), out.buffer()],
            &[
                len as u32,
                dim as u32,
                table.offset(),
                first_row as u32,
                rows as u32,
            ],
            linear_grid(len.div_ceil(WORKGROUP)),
        );
    }
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
        &[t.f32_buffer("timestep_embedding")?, out.buffer()],
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
