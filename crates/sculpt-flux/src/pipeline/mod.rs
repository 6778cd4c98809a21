//! What to run: a model's description and files, a request, and whether it
//! fits the device.
//!
//! A model is described by a [`Manifest`] (the built-in model) or by its
//! files alone (imported FLUX checkpoints, configuration inferred from their
//! shapes, sorted into roles by [`sort_loose_files`]); either way it opens
//! as a [`crate::generation::Pipeline`] on the GPU ([`crate::gpu`]) or the
//! CPU (`crate::cpu`). Before anything is loaded, a request is checked
//! ([`GenerateRequest::validate`]) and the [`MemoryPlan`] for its size is
//! checked against the device.

mod error;
mod files;
mod loose_files;
mod manifest;
mod memory;
mod request;

pub use crate::family::ModelDefaults;
pub use error::PipelineError;
pub use files::ModelFiles;
pub(crate) use files::checked;
pub use loose_files::{
    FoundPart, LooseFilesError, LooseModel, is_tokenizer_name, is_weights_name, shard_set,
    sort_loose_files,
};
pub use manifest::{
    MANIFEST_VERSION, Manifest, ManifestError, ManifestFile, ManifestFiles, ManifestShift,
    PREVIEW_KEY,
};
pub use memory::{DeviceLimits, MemoryPlan, PlanModels, StagePlan, plan_memory};
pub use request::{DEFAULT_GUIDANCE, GenerateRequest, ImageStart, InitImage, RequestError};
