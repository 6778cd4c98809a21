//! Everything that can stop a generation, each with its own message.

use sculpt_gpu::GpuError;

use super::{MemoryPlan, RequestError};
use crate::checkpoint::CheckpointError;
use crate::formats::FormatError;
use crate::models::clip::ClipError;
use crate::models::flux1::FluxError;
use crate::models::t5::T5Error;
use crate::text::TextError;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("the model's configuration: {0}")]
    Config(String),
    #[error("bad request: {0}")]
    Request(#[from] RequestError),
    /// A step-level call that this run cannot answer (see
    /// [`crate::generation::Generation`]).
    #[error("{0}")]
    Run(String),
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Text(#[from] TextError),
    #[error(transparent)]
    Clip(#[from] ClipError),
    #[error(transparent)]
    T5(#[from] T5Error),
    #[error(transparent)]
    Flux(#[from] FluxError),
    #[error("on the GPU: {0}")]
    Gpu(#[from] GpuError),
    #[error("this generation does not fit the device:\n{0}")]
    DoesNotFit(Box<MemoryPlan>),
    /// The CPU fallback cannot run this model (too large, split in shards,
    /// under names it does not read).
    #[error("the CPU fallback cannot run this model: {0}")]
    NotForCpu(String),
    #[cfg(feature = "cpu")]
    #[error("on the CPU: {0}")]
    Cpu(#[from] candle_core::Error),
}
