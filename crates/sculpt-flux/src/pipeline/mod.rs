//! The pipeline: from a model's files to images, stage by stage.

mod memory;

pub use memory::{
    DeviceLimits, MemoryPlan, PlanModels, StagePlan, gpu_weight_bytes, is_linear_weight,
    plan_memory,
};
