//! Linear layers (`linear.wgsl`): activations [M, K] times a weight
//! [N, K] (PyTorch/GGUF layout) plus an optional bias [N]. Activations,
//! bias and output share a dtype, f32 or f16; the sums are f32 either way.
//!
//! Weights live on the GPU in their storage format and are decoded inside the
//! kernel. A weight larger than one storage binding allows is split by rows
//! into chunks, each dispatched on its own slice of output columns.

use wgpu::util::DeviceExt;

use crate::{
    DType, Gpu, GpuError, Tensor,
    runtime::{
        launch::linear_grid,
        pipelines::{Enable, KernelSource, ReducingKernel},
    },
    weights::{PackedWeight, WeightFormat, repack},
};

const SOURCE: ReducingKernel = ReducingKernel {
    plain: KernelSource {
        name: "linear.wgsl",
        parts: &[F32, LINEAR, WEIGHTS, REDUCE],
        enables: &[],
    },
    subgroups: KernelSource {
        name: "linear.wgsl + subgroups",
        parts: &[F32, LINEAR, WEIGHTS, REDUCE_SUBGROUPS],
        enables: &[Enable::Subgroups],
    },
};
/// For f16 activations: f16 in memory, f32 arithmetic.
const SOURCE_F16: ReducingKernel = ReducingKernel {
    plain: KernelSource {
        name: "linear.wgsl, f16 activations",
        parts: &[F16_ACTIVATIONS, LINEAR, WEIGHTS, REDUCE],
        enables: &[Enable::F16],
    },
    subgroups: KernelSource {
        name: "linear.wgsl + subgroups, f16 activations",
        parts: &[F16_ACTIVATIONS, LINEAR, WEIGHTS, REDUCE_SUBGROUPS],
        enables: &[Enable::F16, Enable::Subgroups],
    },
};
/// `linear_tiled` multiplying in f16 ([`crate::GpuOptions::f16_linear`]),
/// for f32 and for f16 activations; `linear_rows`, which reads each weight
/// once, gains nothing from it.
const SOURCE_F16_TILES: [KernelSource; 2] = [
    KernelSource {
        name: "linear.wgsl, f16 tiles",
        parts: &[F16_TILES, LINEAR, WEIGHTS, REDUCE],
        enables: &[Enable::F16],
    },
    KernelSource {
        name: "linear.wgsl, f16 tiles, f16 activations",
        parts: &[F16_ACTIVATIONS_AND_TILES, LINEAR, WEIGHTS, REDUCE],
        enables: &[Enable::F16],
    },
];
const LINEAR: &str = include_str!("linear.wgsl");
const WEIGHTS: &str = include_str!("weights.wgsl");
const REDUCE: &str = include_str!("reduce.wgsl");
const REDUCE_SUBGROUPS: &str = include_str!("reduce_subgroups.wgsl");
/// What activations are stored as (`act`), and what `linear_tiled` stages
/// its tiles in and multiplies in (`tile_scalar`).
const F32: &str = "alias act = f32;\nalias tile_scalar = f32;\n";
const F16_TILES: &str = "alias act = f32;\nalias tile_scalar = f16;\n";
const F16_ACTIVATIONS: &str = "alias act = f16;\nalias tile_scalar = f32;\n";
const F16_ACTIVATIONS_AND_TILES: &str = "alias act = f16;\nalias tile_scalar = f16;\n";
const TILE: usize = 64;
/// Up to this many rows, `linear_rows` reads the weight once for all rows.
const MAX_ROWS_KERNEL: usize = 8;

/// A linear layer's weight on the GPU, in its storage format.
pub struct LinearWeight {
    format: WeightFormat,
    rows: usize,
    cols: usize,
    chunks: Vec<WeightChunk>,
}

struct WeightChunk {
    buffer: wgpu::Buffer,
    first_row: usize,
    rows: usize,
}

impl LinearWeight {
    /// Uploads an f32 weight [rows, cols] (row-major).
    pub fn from_f32(gpu: &Gpu, data: &[f32], rows: usize, cols: usize) -> Result<Self, GpuError> {
        if data.len() != rows * cols {
            return Err(GpuError::Shape(format!(
                "a weight of {} values is not [{rows}, {cols}]",
                data.len()
            )));
        }
        Self::from_packed(gpu, &repack_f32(data, rows, cols)?)
    }

    /// Uploads a weight repacked from its file bytes (any [`WeightFormat`]),
    /// split into chunks no larger than one storage binding may be.
    pub fn from_packed(gpu: &Gpu, packed: &PackedWeight) -> Result<Self, GpuError> {
        Self::from_packed_in_chunks(gpu, packed, gpu.max_binding_bytes())
    }

    /// As [`from_packed`](Self::from_packed), with chunks of at most
    /// `max_chunk_bytes` (tests use small chunks to exercise splitting).
    pub fn from_packed_in_chunks(
        gpu: &Gpu,
        packed: &PackedWeight,
        max_chunk_bytes: u64,
    ) -> Result<Self, GpuError> {
        let (rows, cols) = (packed.rows(), packed.cols());
        let row_words = packed.words_per_row();
        let row_bytes = (row_words * 4) as u64;
        if row_bytes > max_chunk_bytes {
            return Err(GpuError::TooLarge {
                what: format!("one row of a [{rows}, {cols}] {} weight", packed.format()),
                bytes: row_bytes,
                limit: max_chunk_bytes,
            });
        }
        let rows_per_chunk = ((max_chunk_bytes / row_bytes) as usize).min(rows);
        let mut chunks = Vec::new();
        for first_row in (0..rows).step_by(rows_per_chunk) {
            let chunk_rows = rows_per_chunk.min(rows - first_row);
            let words =
                &packed.words()[first_row * row_words..(first_row + chunk_rows) * row_words];
            gpu.stats.buffer_created();
            gpu.stats.uploaded((words.len() * 4) as u64);
            let buffer = gpu
                .device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some("linear weight"),
                    contents: bytemuck::cast_slice(words),
                    usage: wgpu::BufferUsages::STORAGE,
                });
            chunks.push(WeightChunk {
                buffer,
                first_row,
                rows: chunk_rows,
            });
        }
        Ok(Self {
            format: packed.format(),
            rows,
            cols,
            chunks,
        })
    }

    /// [out_features, in_features].
    pub fn shape(&self) -> [usize; 2] {
        [self.rows, self.cols]
    }

    pub fn format(&self) -> WeightFormat {
        self.format
    }

    /// How many buffers the weight was split into.
    pub fn chunk_count(&self) -> usize {
        self.chunks.len()
    }
}

fn repack_f32(data: &[f32], rows: usize, cols: usize) -> Result<PackedWeight, GpuError> {
    repack(WeightFormat::F32, rows, cols, bytemuck::cast_slice(data))
        .map_err(|e| GpuError::Shape(e.to_string()))
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
    if let Some(bias) = bias
        && bias.dtype() != x.dtype()
    {
        return Err(GpuError::Unsupported(format!(
            "linear: input {x:?} and bias {bias:?} differ in dtype: cast the bias"
        )));
    }
    let m = x.elem_count() / k.max(1);
    let mut out_shape = x.shape().to_vec();
    *out_shape.last_mut().expect("x has a last axis") = weight.rows;
    let out = Tensor::uninit_as(gpu, &out_shape, x.dtype())?;
    let reducing = match x.dtype() {
        DType::F32 => &SOURCE,
        DType::F16 => &SOURCE_F16,
    };
    // Without a bias the kernel's bias binding must still be bound to
    // something readable; x itself serves.
    let bias_buffer = bias.map_or(x.buffer(), Tensor::buffer);
    let constants = [
        ("WEIGHT_FORMAT", f64::from(weight.format.shader_id())),
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
        ];
        let buffers = [x.buffer(), &chunk.buffer, bias_buffer, out.buffer()];
        if m <= MAX_ROWS_KERNEL {
            gpu.launch(
                reducing.for_device(gpu),
                "linear_rows",
                &constants,
                &buffers,
                &params,
                linear_grid(chunk.rows),
            );
        } else {
            let source = match (gpu.report.f16_linear, x.dtype()) {
                (true, DType::F32) => &SOURCE_F16_TILES[0],
                (true, DType::F16) => &SOURCE_F16_TILES[1],
                (false, _) => reducing.for_device(gpu),
            };
            gpu.launch(
                source,
                "linear_tiled",
                &constants[..2],
                &buffers,
                &params,
                [chunk.rows.div_ceil(TILE) as u32, m.div_ceil(TILE) as u32, 1],
            );
        }
    }
    Ok(out)
}
