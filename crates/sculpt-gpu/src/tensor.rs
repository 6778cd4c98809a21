//! GPU tensors: a shape over a pooled buffer. Contiguous and row-major, of
//! f32, or of f16 on a device with `shader-f16` (half the memory and memory
//! traffic; kernels that take f16 still compute in f32 or say so). `reshape`
//! and `narrow` (on the first axis) are views that copy nothing.

use std::rc::Rc;

use crate::{Gpu, GpuError, runtime::pool::PooledBuffer};

/// What a tensor's elements are stored as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    F32,
    /// IEEE half precision: needs `shader-f16`; magnitudes beyond 65504
    /// become infinite.
    F16,
}

impl DType {
    pub fn size_in_bytes(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::F16 => 2,
        }
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DType::F32 => "f32",
            DType::F16 => "f16",
        })
    }
}

/// Uploads go through `queue.write_buffer` in pieces of at most this many
/// bytes, so the staging memory wgpu keeps for them stays bounded.
pub const UPLOAD_CHUNK_BYTES: usize = 16 << 20;

#[derive(Clone)]
pub struct Tensor {
    storage: Rc<PooledBuffer>,
    /// Where the view starts in its buffer, in elements.
    offset: usize,
    shape: Vec<usize>,
    dtype: DType,
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.dtype {
            DType::F32 => write!(f, "Tensor{:?}", self.shape),
            dtype => write!(f, "Tensor{:?} {dtype}", self.shape),
        }
    }
}

impl Tensor {
    /// An f32 tensor whose contents are whatever its pooled buffer last held;
    /// kernels write every element of their outputs.
    pub fn uninit(gpu: &Gpu, shape: &[usize]) -> Result<Tensor, GpuError> {
        Self::uninit_as(gpu, shape, DType::F32)
    }

    /// As [`uninit`](Self::uninit), of any dtype the device supports.
    pub fn uninit_as(gpu: &Gpu, shape: &[usize], dtype: DType) -> Result<Tensor, GpuError> {
        if dtype == DType::F16 && !gpu.report.shader_f16 {
            return Err(GpuError::Unsupported(format!(
                "an f16 tensor of shape {shape:?}: this GPU has no shader-f16"
            )));
        }
        let elements: usize = shape.iter().product();
        // Whole 4-byte words: copies and uploads move multiples of 4 bytes.
        let bytes = (elements.max(1) * dtype.size_in_bytes()).next_multiple_of(4) as u64;
        // Read once at device creation: every kernel's output comes through here.
        let limit = gpu.max_binding_bytes();
        if bytes > limit {
            return Err(GpuError::TooLarge {
                what: format!("a tensor of shape {shape:?}"),
                bytes,
                limit,
            });
        }
        Ok(Tensor {
            storage: Rc::new(gpu.pool.take(bytes)),
            offset: 0,
            shape: shape.to_vec(),
            dtype,
        })
    }

    pub fn from_slice(gpu: &Gpu, data: &[f32], shape: &[usize]) -> Result<Tensor, GpuError> {
        Self::from_slice_as(gpu, data, shape, DType::F32)
    }

    /// Uploads f32 values stored as `dtype` (f16: rounded to nearest, ties
    /// to even, on the CPU).
    pub fn from_slice_as(
        gpu: &Gpu,
        data: &[f32],
        shape: &[usize],
        dtype: DType,
    ) -> Result<Tensor, GpuError> {
        let elements: usize = shape.iter().product();
        if elements != data.len() {
            return Err(GpuError::Shape(format!(
                "{} values cannot fill shape {shape:?} ({elements} elements)",
                data.len()
            )));
        }
        let tensor = Self::uninit_as(gpu, shape, dtype)?;
        let halves: Vec<u8>;
        let bytes: &[u8] = match dtype {
            DType::F32 => bytemuck::cast_slice(data),
            DType::F16 => {
                let mut le: Vec<u8> = data
                    .iter()
                    .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
                    .collect();
                // An odd number of halves ends mid-word; writes are whole words.
                le.resize(le.len().next_multiple_of(4), 0);
                halves = le;
                &halves
            }
        };
        // Recorded work that reads this buffer's previous contents must be
        // submitted before the write, which the queue applies at its next submit.
        gpu.recorder.flush();
        for (i, chunk) in bytes.chunks(UPLOAD_CHUNK_BYTES).enumerate() {
            gpu.queue
                .write_buffer(tensor.buffer(), (i * UPLOAD_CHUNK_BYTES) as u64, chunk);
        }
        gpu.stats.uploaded(bytes.len() as u64);
        Ok(tensor)
    }

    /// Copies the tensor to the CPU as f32 (f16 widens exactly): submits
    /// pending work and waits for it.
    pub async fn to_vec(&self, gpu: &Gpu) -> Result<Vec<f32>, GpuError> {
        let size = self.dtype.size_in_bytes();
        let (start, end) = (self.offset * size, (self.offset + self.elem_count()) * size);
        // Copies move whole 4-byte words; an f16 view may start or end mid-word.
        let (word_start, word_end) = (start / 4 * 4, end.next_multiple_of(4));
        let bytes = crate::readback::read_range(
            gpu,
            self.buffer(),
            word_start as u64,
            (word_end - word_start) as u64,
        )
        .await?;
        let bytes = &bytes[start - word_start..end - word_start];
        Ok(match self.dtype {
            DType::F32 => bytemuck::pod_collect_to_vec(bytes),
            DType::F16 => bytes
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
        })
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    pub fn elem_count(&self) -> usize {
        self.shape.iter().product()
    }

    /// The size of the last axis (1 for a scalar).
    pub fn last_dim(&self) -> usize {
        self.shape.last().copied().unwrap_or(1)
    }

    /// The same elements under another shape.
    pub fn reshape(&self, shape: &[usize]) -> Result<Tensor, GpuError> {
        let elements: usize = shape.iter().product();
        if elements != self.elem_count() {
            return Err(GpuError::Shape(format!(
                "cannot reshape {:?} to {shape:?}",
                self.shape
            )));
        }
        Ok(Tensor {
            shape: shape.to_vec(),
            ..self.clone()
        })
    }

    /// Rows `start..start + len` of the first axis.
    pub fn narrow(&self, start: usize, len: usize) -> Result<Tensor, GpuError> {
        let rows = self.shape.first().copied().unwrap_or(1);
        if start + len > rows {
            return Err(GpuError::Shape(format!(
                "rows {start}..{} are outside {:?}",
                start + len,
                self.shape
            )));
        }
        let row: usize = self.shape.iter().skip(1).product();
        let mut shape = self.shape.clone();
        shape[0] = len;
        Ok(Tensor {
            storage: Rc::clone(&self.storage),
            offset: self.offset + start * row,
            shape,
            dtype: self.dtype,
        })
    }

    /// The buffer, for kernels that read this tensor's dtype themselves.
    pub(crate) fn buffer(&self) -> &wgpu::Buffer {
        self.storage.buffer()
    }

    /// The buffer, for kernels that read f32 only: another dtype is an
    /// error that names the kernel, not a silent misreading of its bits.
    pub(crate) fn f32_buffer(&self, kernel: &str) -> Result<&wgpu::Buffer, GpuError> {
        match self.dtype {
            DType::F32 => Ok(self.storage.buffer()),
            dtype => Err(GpuError::Unsupported(format!(
                "{kernel} takes f32 tensors, and {self:?} is {dtype}: cast it first"
            ))),
        }
    }

    /// Where the view starts, in elements, for kernel parameters.
    pub(crate) fn offset(&self) -> u32 {
        u32::try_from(self.offset).expect("offsets fit the binding limit")
    }
}
