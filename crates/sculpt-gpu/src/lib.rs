//! # sculpt-gpu
//!
//! Sculpt's GPU layer, the same code natively (Vulkan, Metal, DX12) and in the
//! browser (WebGPU), all through `wgpu`.
//!
//! **Owns:** device setup and its report ([`Gpu`], [`DeviceReport`]), reading
//! buffers back ([`readback`]), and the WGSL kernels ([`kernels`], one `.wgsl`
//! file per family). GPU tensors, the buffer pool and the rest of the kernel
//! library grow here.
//!
//! **Must not:** know about models, weight files, tokenizers or the page. It
//! takes numbers and shapes, not FLUX; `sculpt-flux` builds models on top of it.
//! It never reads data back from the GPU unless a caller asks for it.

mod device;
pub mod kernels;
pub mod readback;
pub mod runtime;
mod tensor;
pub mod weights;

pub use device::{DeviceReport, Gpu, GpuError, format_bytes, required_limits};
pub use runtime::stats::StatsSnapshot;
pub use tensor::Tensor;
