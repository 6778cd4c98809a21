//! The pipeline: from a model's files to images, stage by stage.

mod manifest;
mod memory;

pub use manifest::{
    MANIFEST_VERSION, Manifest, ManifestConfig, ManifestError, ManifestFile, ManifestFiles,
    ManifestShift,
};
pub use memory::{
    DeviceLimits, MemoryPlan, PlanModels, StagePlan, gpu_weight_bytes, is_linear_weight,
    plan_memory,
};
