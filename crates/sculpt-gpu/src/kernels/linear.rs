//! Linear layers (`linear.wgsl`): activations [M, K] times a weight
//! [N, K] (PyTorch/GGUF layout) plus an optional bias [N].
//!
//! Weights live on the GPU in their storage format and are decoded inside the
//! kernel. A weight larger than one storage binding allows is split by rows
//! into chunks, each dispatched on its own slice of output columns.

use wgpu::util::DeviceExt;

use crate::{
    Gpu, GpuError, Tensor,
    runtime::{launch::linear_grid, pipelines::KernelSource},
};

const SOURCE: KernelSource = KernelSource {
    name: "linear.wgsl (f32 weights)",
    parts: &[include_str!("weight_f32.wgsl"), include_str!("linear.wgsl")],
};
const TILE: usize = 64;
/// Up to this many rows, `linear_rows` reads the weight once for all rows.
const MAX_ROWS_KERNEL: usize = 8;

/// A linear layer's weight on the GPU.
pub struct LinearWeight {
    rows: usize,
    cols: usize,
    row_words: usize,
    chunks: Vec<WeightChunk>,
}

struct WeightChunk {
    buffer: wgpu::Buffer,
    first_row: usize,
    rows: usize,
}

impl LinearWeight {
    /// Uploads an f32 weight [rows, cols] (row-major), split into chunks no
    /// larger than the device lets one storage binding be.
    pub fn from_f32(gpu: &Gpu, data: &[f32], rows: usize, cols: usize) -> Result<Self, GpuError> {
        let limits = gpu.device.limits();
        let max_chunk = limits
            .max_storage_buffer_binding_size
            .min(limits.max_buffer_size);
        Self::from_f32_in_chunks(gpu, data, rows, cols, max_chunk)
    }

    /// As [`from_f32`](Self::from_f32), with chunks of at most `max_chunk_bytes`
    /// (tests use small chunks to exercise splitting).
    pub fn from_f32_in_chunks(
        gpu: &Gpu,
        data: &[f32],
        rows: usize,
        cols: usize,
        max_chunk_bytes: u64,
    ) -> Result<Self, GpuError> {
        if data.len() != rows * cols || rows == 0 || cols == 0 {
            return Err(GpuError::Shape(format!(
                "a weight of {} values is not [{rows}, {cols}]",
                data.len()
            )));
        }
        let row_words = cols.next_multiple_of(4);
        let row_bytes = (row_words * 4) as u64;
        if row_bytes > max_chunk_bytes {
            return Err(GpuError::TooLarge {
                what: format!("one row of a [{rows}, {cols}] weight"),
                bytes: row_bytes,
                limit: max_chunk_bytes,
            });
        }
        let rows_per_chunk = ((max_chunk_bytes / row_bytes) as usize).min(rows);
        let mut chunks = Vec::new();
        let mut padded = Vec::with_capacity(rows_per_chunk * row_words);
        for first_row in (0..rows).step_by(rows_per_chunk) {
            let chunk_rows = rows_per_chunk.min(rows - first_row);
            padded.clear();
            for row in first_row..first_row + chunk_rows {
                padded.extend(
                    data[row * cols..(row + 1) * cols]
                        .iter()
                        .map(|v| v.to_bits()),
                );
                padded.resize(padded.len() + row_words - cols, 0);
            }
            gpu.stats.buffer_created();
            gpu.stats.uploaded((padded.len() * 4) as u64);
            let buffer = gpu
                .device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some("linear weight"),
                    contents: bytemuck::cast_slice(&padded),
                    usage: wgpu::BufferUsages::STORAGE,
                });
            chunks.push(WeightChunk {
                buffer,
                first_row,
                rows: chunk_rows,
            });
        }
        Ok(Self {
            rows,
            cols,
            row_words,
            chunks,
        })
    }

    /// [out_features, in_features].
    pub fn shape(&self) -> [usize; 2] {
        [self.rows, self.cols]
    }

    /// How many buffers the weight was split into.
    pub fn chunk_count(&self) -> usize {
        self.chunks.len()
    }
}

/// `x · wᵀ + bias` over the last axis of `x` (any leading shape).
pub fn linear(
    gpu: &Gpu,
    x: &Tensor,
    weight: &LinearWeight,
    bias: Option<&Tensor>,
) -> Result<Tensor, GpuError> {
    let k = x.last_dim();
    if k != weight.cols {
        return Err(GpuError::Shape(format!(
            "linear: input {:?} has {k} features, the weight [{}, {}] takes {}",
            x.shape(),
            weight.rows,
            weight.cols,
            weight.cols
        )));
    }
    if let Some(bias) = bias
        && bias.elem_count() != weight.rows
    {
        return Err(GpuError::Shape(format!(
            "linear: bias {:?} does not match {} output features",
            bias.shape(),
            weight.rows
        )));
    }
    let m = x.elem_count() / k.max(1);
    let mut out_shape = x.shape().to_vec();
    *out_shape.last_mut().expect("x has a last axis") = weight.rows;
    let out = Tensor::uninit(gpu, &out_shape)?;
    // Without a bias the kernel's bias binding must still be bound to
    // something readable; x itself serves.
    let bias_buffer = bias.map_or(x.buffer(), Tensor::buffer);
    let constants_rows = [
        ("HAS_BIAS", f64::from(u8::from(bias.is_some()))),
        ("ROWS", m as f64),
    ];
    for chunk in &weight.chunks {
        let params = [
            m as u32,
            chunk.rows as u32,
            k as u32,
            weight.rows as u32,
            x.offset(),
            out.offset(),
            bias.map_or(0, Tensor::offset),
            chunk.first_row as u32,
            weight.row_words as u32,
        ];
        let buffers = [x.buffer(), &chunk.buffer, bias_buffer, out.buffer()];
        if m <= MAX_ROWS_KERNEL {
            gpu.launch(
                &SOURCE,
                "linear_rows",
                &constants_rows,
                &buffers,
                &params,
                linear_grid(chunk.rows),
            );
        } else {
            gpu.launch(
                &SOURCE,
                "linear_tiled",
                &constants_rows[..1],
                &buffers,
                &params,
                [chunk.rows.div_ceil(TILE) as u32, m.div_ceil(TILE) as u32, 1],
            );
        }
    }
    Ok(out)
}
