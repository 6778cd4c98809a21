//! WGSL kernels, one `.wgsl` file per family, each with the Rust that builds
//! its pipelines and dispatches it.

pub mod dequantize;
pub mod frame;
