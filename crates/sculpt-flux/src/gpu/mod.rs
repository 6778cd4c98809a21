//! FLUX on the GPU: Sculpt's WGSL kernels through wgpu, natively and in the
//! browser. [`GpuPipeline`] opens a model's files and streams its weights
//! to the GPU; [`GpuBackend`] is what a [`Generation`] runs its steps on.
//! After a two-step warm-up a step creates no buffers or pipelines, and
//! nothing is read back but the frames asked for.
//!
//! [`Generation`]: crate::generation::Generation

mod backend;
mod named_weights;
mod pipeline;
mod text_encoder;

pub use backend::{GpuBackend, GpuText};
pub use pipeline::GpuPipeline;
