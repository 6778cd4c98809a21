//! Generation, written once for every backend and every surface.
//!
//! A [`Pipeline`] (a model opened on the GPU, [`crate::gpu::GpuPipeline`],
//! or on the CPU, `crate::cpu::CpuPipeline`) turns a request into a
//! [`RunPlan`] and a [`Generation`]: the driver that owns the schedule, the
//! Euler step, true CFG, the image-to-image start and the forward process,
//! and calls its [`Backend`] only for the model's stages (velocity, mixing
//! latents, noise, decoding). Surfaces drive it a step at a time: after each
//! step x_t, the predicted clean latent x̂₀ and the velocity can be decoded
//! ([`Show`]); a bounded [`History`] keeps past steps for scrubbing.

mod backend;
mod frame;
mod history;
mod pipeline;
mod plan;
mod png;
mod preview;
mod run;

pub use backend::Backend;
pub use frame::Frame;
pub use history::{HISTORY_LIMIT, History, StepRecord};
pub use pipeline::Pipeline;
pub use plan::{LatentShape, RunPlan};
pub use png::{MAX_PNG_PIXELS, PngError, PngReadError};
pub use preview::{Decode, Preview};
pub use run::{Conditioning, Generation, Show, StepInfo};
