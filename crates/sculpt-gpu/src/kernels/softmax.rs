//! Softmax over the last axis (`softmax.wgsl`): attention scores, rows of any
//! length (1, CLIP's 77, 4096 image tokens and more).

use crate::{
    Gpu, GpuError, Tensor,
    runtime::{
        launch::linear_grid,
        pipelines::{Enable, KernelSource, ReducingKernel},
    },
};

const SOURCE: ReducingKernel = ReducingKernel {
    plain: KernelSource {
        name: "softmax.wgsl",
        parts: &[include_str!("softmax.wgsl"), include_str!("reduce.wgsl")],
        enables: &[],
    },
    subgroups: KernelSource {
        name: "softmax.wgsl + subgroups",
        parts: &[
            include_str!("softmax.wgsl"),
            include_str!("reduce_subgroups.wgsl"),
        ],
        enables: &[Enable::Subgroups],
    },
};

/// `exp(x - max) / sum(exp(x - max))` along the last axis.
pub fn softmax_last_dim(gpu: &Gpu, x: &Tensor) -> Result<Tensor, GpuError> {
    let width = x.last_dim();
    if x.shape().is_empty() || width == 0 {
        return Err(GpuError::Shape(format!(
            "softmax needs a non-empty last axis, not {:?}",
            x.shape()
        )));
    }
    let rows = x.elem_count() / width;
    let out = Tensor::uninit(gpu, x.shape())?;
    gpu.launch(
        SOURCE.for_device(gpu),
        "softmax",
        // Narrow rows would leave most of 256 threads idle.
        &[("WORKGROUP", if width <= 256 { 64.0 } else { 256.0 })],
        &[x.f32_buffer("softmax_last_dim")?, out.buffer()],
        &[rows as u32, width as u32, x.offset()],
        linear_grid(rows),
    );
    Ok(out)
}
