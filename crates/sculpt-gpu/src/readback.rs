//! Reading GPU buffers back to the CPU: only on request, and only for what is
//! drawn or checked (frames, test results), never in the middle of a forward
//! pass. Staging buffers are pooled like everything else.

use std::{cell::RefCell, collections::HashMap};

use crate::{Gpu, GpuError, runtime::pool::size_class};

/// Mappable buffers kept for reuse, by size class.
#[derive(Default)]
pub struct StagingPool {
    free: RefCell<HashMap<u64, Vec<wgpu::Buffer>>>,
}

impl StagingPool {
    fn take(&self, gpu: &Gpu, bytes: u64) -> wgpu::Buffer {
        let size = size_class(bytes);
        if let Some(buffer) = self.free.borrow_mut().get_mut(&size).and_then(Vec::pop) {
            return buffer;
        }
        gpu.stats.buffer_created();
        gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback staging"),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    fn give_back(&self, buffer: wgpu::Buffer) {
        self.free
            .borrow_mut()
            .entry(buffer.size())
            .or_default()
            .push(buffer);
    }
}

/// Copies the first `size` bytes of `source` (which needs `COPY_SRC`) to the
/// CPU, after all work recorded or submitted so far.
pub async fn read_buffer(gpu: &Gpu, source: &wgpu::Buffer, size: u64) -> Result<Vec<u8>, GpuError> {
    read_range(gpu, source, 0, size).await
}

/// Copies `size` bytes of `source` from `offset` (both multiples of 4).
pub async fn read_range(
    gpu: &Gpu,
    source: &wgpu::Buffer,
    offset: u64,
    size: u64,
) -> Result<Vec<u8>, GpuError> {
    if size == 0 {
        return Ok(Vec::new());
    }
    let staging = gpu.staging.take(gpu, size);
    gpu.recorder.copy(source, offset, &staging, 0, size);
    gpu.recorder.flush();

    let (sender, receiver) = futures_channel::oneshot::channel();
    staging
        .slice(..size)
        .map_async(wgpu::MapMode::Read, move |result| {
            // The receiver only disappears if the caller's future was dropped.
            let _ = sender.send(result);
        });
    // Natively nothing drives the map callback but a poll; in the browser the
    // event loop does, and polling is a no-op.
    #[cfg(not(target_arch = "wasm32"))]
    gpu.device
        .poll(wgpu::PollType::wait_indefinitely())
        .map_err(|e| GpuError::Readback(e.to_string()))?;
    receiver
        .await
        .map_err(|_| GpuError::Readback("the device was lost before the map completed".into()))?
        .map_err(|e| GpuError::Readback(e.to_string()))?;
    let bytes = staging
        .slice(..size)
        .get_mapped_range()
        .map_err(|e| GpuError::Readback(e.to_string()))?
        .to_vec();
    staging.unmap();
    gpu.staging.give_back(staging);
    gpu.stats.read_back(size);
    Ok(bytes)
}
