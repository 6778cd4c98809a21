//! # sculpt-gpu
//!
//! Sculpt's GPU layer, the same code natively (Vulkan, Metal, DX12) and in the
//! browser (WebGPU), all through `wgpu`.
//!
//! **Owns:** device setup and its report ([`Gpu`], [`DeviceReport`]); the
//! execution model ([`runtime`]: pooled buffers, pipelines compiled once,
//! many dispatches per submit, parameters in a uniform ring, counters that
//! prove a steady state allocates nothing); GPU [`Tensor`]s of f32, or of
//! f16 ([`DType`]) on a device with `shader-f16` (casts and the elementwise
//! and linear kernels take f16; the others refuse it by name); weight storage
//! formats as the GPU reads them ([`weights`]: f32, f16, bf16 and GGUF
//! blocks, repacked for aligned loads); reading back ([`readback`]);
//! drawing images straight into a texture or canvas ([`present`]); and the
//! WGSL kernels ([`kernels`], one `.wgsl` file per family, each with the Rust
//! that launches it; families that reduce across a workgroup take a subgroup
//! variant where the device has subgroups, [`GpuOptions`] turns it off; with
//! [`GpuOptions::f16_linear`], linear layers multiply in f16 where the device
//! has `shader-f16`).
//!
//! **Must not:** know about models, weight *files*, tokenizers or the page.
//! It takes numbers, shapes and block bytes, not FLUX; `sculpt-flux` parses
//! files and builds models on top of it. It never reads data back from the
//! GPU unless a caller asks for it.
//!
//! Every kernel is checked against candle on the CPU (`tests/gpu/`), natively
//! and in headless Chromium.

mod device;
pub mod kernels;
pub mod present;
pub mod readback;
pub mod runtime;
mod tensor;
pub mod weights;

pub use device::{DeviceReport, Gpu, GpuError, GpuOptions, format_bytes, required_limits};
pub use runtime::stats::StatsSnapshot;
pub use tensor::{DType, Tensor};
