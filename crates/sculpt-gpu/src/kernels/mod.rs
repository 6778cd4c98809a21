//! WGSL kernels, one `.wgsl` file per family, each with the Rust that builds
//! its pipelines and dispatches it.

pub mod attention;
pub mod conv;
pub mod dequantize;
pub mod elementwise;
pub mod embed;
pub mod frame;
pub mod layout;
pub mod linear;
pub mod noise;
pub mod norm;
pub mod resample;
pub mod rope;
pub mod softmax;
