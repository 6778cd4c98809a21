//! Reading GPU buffers back to the CPU: only on request, and only for what is
//! drawn or checked (frames, test results), never in the middle of a forward pass.

use crate::{Gpu, GpuError};

/// Copies the first `size` bytes of `source` (which needs `COPY_SRC`) into a
/// staging buffer and returns them once the GPU has finished all work
/// submitted so far.
pub async fn read_buffer(gpu: &Gpu, source: &wgpu::Buffer, size: u64) -> Result<Vec<u8>, GpuError> {
    let staging = gpu.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("readback staging"),
        size,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut encoder = gpu
        .device
        .create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("readback"),
        });
    encoder.copy_buffer_to_buffer(source, 0, &staging, 0, size);
    gpu.queue.submit([encoder.finish()]);

    let (sender, receiver) = futures_channel::oneshot::channel();
    staging
        .slice(..)
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
        .slice(..)
        .get_mapped_range()
        .map_err(|e| GpuError::Readback(e.to_string()))?
        .to_vec();
    staging.unmap();
    Ok(bytes)
}
