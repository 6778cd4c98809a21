//! GPU tensors: a shape over a pooled buffer. Contiguous, row-major f32;
//! `reshape` and `narrow` (on the first axis) are views that copy nothing.

use std::rc::Rc;

use crate::{Gpu, GpuError, runtime::pool::PooledBuffer};

/// Uploads go through `queue.write_buffer` in pieces of at most this many
/// bytes, so the staging memory wgpu keeps for them stays bounded.
pub const UPLOAD_CHUNK_BYTES: usize = 16 << 20;

#[derive(Clone)]
pub struct Tensor {
    storage: Rc<PooledBuffer>,
    /// Where the view starts in its buffer, in elements.
    offset: usize,
    shape: Vec<usize>,
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tensor{:?}", self.shape)
    }
}

impl Tensor {
    /// A tensor whose contents are whatever its pooled buffer last held;
    /// kernels write every element of their outputs.
    pub fn uninit(gpu: &Gpu, shape: &[usize]) -> Result<Tensor, GpuError> {
        let elements: usize = shape.iter().product();
        let bytes = (elements.max(1) * 4) as u64;
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
        })
    }

    pub fn from_slice(gpu: &Gpu, data: &[f32], shape: &[usize]) -> Result<Tensor, GpuError> {
        let elements: usize = shape.iter().product();
        if elements != data.len() {
            return Err(GpuError::Shape(format!(
                "{} values cannot fill shape {shape:?} ({elements} elements)",
                data.len()
            )));
        }
        let tensor = Self::uninit(gpu, shape)?;
        let bytes: &[u8] = bytemuck::cast_slice(data);
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

    /// Copies the tensor to the CPU: submits pending work and waits for it.
    pub async fn to_vec(&self, gpu: &Gpu) -> Result<Vec<f32>, GpuError> {
        let bytes = crate::readback::read_range(
            gpu,
            self.buffer(),
            (self.offset * 4) as u64,
            (self.elem_count() * 4) as u64,
        )
        .await?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
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
        })
    }

    pub(crate) fn buffer(&self) -> &wgpu::Buffer {
        self.storage.buffer()
    }

    /// Where the view starts, in elements, for kernel parameters.
    pub(crate) fn offset(&self) -> u32 {
        u32::try_from(self.offset).expect("offsets fit the binding limit")
    }
}
