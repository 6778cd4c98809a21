//! Checkpoints: which model a weight file holds, found from its tensor names
//! and shapes (no configuration file needed), checked tensor by tensor, and
//! summarized for `sculpt inspect`.

mod detect;
mod gpu_footprint;
mod layout;
mod summary;

pub use detect::{
    Checkpoint, CheckpointError, CheckpointProblem, ModelConfig, Naming, Recognition, Role,
    check_layout, detect, naming_of, recognize,
};
pub use gpu_footprint::{gpu_weight_bytes, is_linear_weight};
pub use layout::{
    ExpectedTensor, autoencoder_layout, clip_layout, diffusers_autoencoder_layout,
    diffusers_flux_layout, flux_layout, t5_layout,
};
pub use summary::{EncodingShare, InspectError, Summary, inspect, summarize, thousands};
