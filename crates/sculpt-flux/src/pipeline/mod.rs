//! The pipeline: from a model's files to images, stage by stage.
//!
//! A model is described by a [`Manifest`] (the built-in model) or by its
//! files alone (imported FLUX checkpoints, configuration inferred from their
//! shapes); either way it runs through one [`Pipeline`]. Before anything is
//! loaded, a request is checked ([`GenerateRequest::validate`]) and the
//! [`MemoryPlan`] for its size is checked against the device.

mod error;
mod generate;
mod loose_files;
mod manifest;
mod memory;
mod png;
mod request;

pub use error::PipelineError;
#[cfg(feature = "cpu")]
pub(crate) use generate::checked;
pub use generate::{Frame, Generation, ModelDefaults, ModelFiles, Pipeline, Show, StepInfo};
pub use loose_files::{
    FoundPart, LooseFilesError, LooseModel, is_tokenizer_name, is_weights_name, shard_set,
    sort_loose_files,
};
pub use manifest::{
    MANIFEST_VERSION, Manifest, ManifestConfig, ManifestError, ManifestFile, ManifestFiles,
    ManifestShift,
};
pub use memory::{DeviceLimits, MemoryPlan, PlanModels, StagePlan, plan_memory};
// `generate.rs` reads it here; it moved below the pipeline into `checkpoint`.
pub use crate::checkpoint::gpu_weight_bytes;
pub use png::PngError;
pub use request::{DEFAULT_GUIDANCE, GenerateRequest, InitImage, RequestError};
