//! Resampling of [C, H, W] images (`resample.wgsl`): the nearest-neighbour
//! ×2 upsampling in front of each FLUX decoder `Upsample` convolution, and
//! depth to space (`pixel_shuffle`) behind the preview decoder's.

use crate::{
    Gpu, GpuError, Tensor,
    runtime::{launch::linear_grid, pipelines::KernelSource},
};

const SOURCE: KernelSource = KernelSource {
    name: "resample.wgsl",
    parts: &[include_str!("resample.wgsl")],
    enables: &[],
};
const WORKGROUP: usize = 256;

/// [C, H, W] → [C, 2H, 2W], every pixel repeated as a 2×2 block.
pub fn upsample_nearest_2x(gpu: &Gpu, x: &Tensor) -> Result<Tensor, GpuError> {
    let &[channels, height, width] = x.shape() else {
        return Err(GpuError::Shape(format!(
            "upsample_nearest_2x: {:?} is not [channels, height, width]",
            x.shape()
        )));
    };
    let out = Tensor::uninit(gpu, &[channels, 2 * height, 2 * width])?;
    let len = out.elem_count();
    if len == 0 {
        return Ok(out);
    }
    let params = [
        u32::try_from(len).expect("sizes fit the binding limit"),
        width as u32,
        x.offset(),
        out.offset(),
    ];
    gpu.launch(
        &SOURCE,
        "upsample_nearest_2x",
        &[],
        &[x.f32_buffer("upsample_nearest_2x")?, out.buffer()],
        &params,
        linear_grid(len.div_ceil(WORKGROUP)),
    );
    Ok(out)
}

/// [C·f², H, W] → [C, H·f, W·f] (PyTorch's `pixel_shuffle`): output pixel
/// (c, y, x) is input channel c·f² + (y mod f)·f + (x mod f) at (y / f,
/// x / f).
pub fn pixel_shuffle(gpu: &Gpu, x: &Tensor, factor: usize) -> Result<Tensor, GpuError> {
    let shape_error = || {
        GpuError::Shape(format!(
            "pixel_shuffle by {factor}: {:?} is not [channels·{factor}², height, width]",
            x.shape()
        ))
    };
    let &[channels, height, width] = x.shape() else {
        return Err(shape_error());
    };
    if factor == 0 || !channels.is_multiple_of(factor * factor) {
        return Err(shape_error());
    }
    let out = Tensor::uninit(
        gpu,
        &[
            channels / (factor * factor),
            height * factor,
            width * factor,
        ],
    )?;
    let len = out.elem_count();
    if len == 0 {
        return Ok(out);
    }
    let params = [
        u32::try_from(len).expect("sizes fit the binding limit"),
        factor as u32,
        height as u32,
        width as u32,
        x.offset(),
        out.offset(),
    ];
    gpu.launch(
        &SOURCE,
        "pixel_shuffle",
        &[],
        &[x.f32_buffer("pixel_shuffle")?, out.buffer()],
        &params,
        linear_grid(len.div_ceil(WORKGROUP)),
    );
    Ok(out)
}
