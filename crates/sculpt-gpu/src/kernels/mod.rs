//! WGSL kernels, one `.wgsl` file per family, each with the Rust that builds
//! its pipelines and dispatches it.

pub mod conv;
pub mod elementwise;
pub mod frame;
pub mod layout;
pub mod noise;
pub mod resample;
