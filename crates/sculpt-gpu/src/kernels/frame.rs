//! Frames for canvases: planar RGB in [-1, 1] to packed RGBA8 (`frame.wgsl`).
//! This readback is the one the product makes every step: the frame drawn.

use crate::{Gpu, GpuError, Tensor, runtime::pipelines::KernelSource};

const SOURCE: KernelSource = KernelSource {
    name: "frame.wgsl",
    parts: &[include_str!("frame.wgsl")],
    enables: &[],
};
const WORKGROUP: u32 = 8;

/// Converts an image [3, height, width] to `width * height * 4` bytes, row
/// by row, R G B A per pixel, and reads them back.
pub async fn to_rgba8(gpu: &Gpu, planes: &Tensor) -> Result<Vec<u8>, GpuError> {
    let &[3, height, width] = planes.shape() else {
        return Err(GpuError::Shape(format!(
            "a frame is [3, height, width], not {:?}",
            planes.shape()
        )));
    };
    // Four bytes per pixel: one u32, the same size as an f32.
    let pixels = Tensor::uninit(gpu, &[height, width])?;
    let (width, height) = (width as u32, height as u32);
    gpu.launch(
        &SOURCE,
        "planar_to_rgba8",
        &[],
        &[planes.f32_buffer("to_rgba8")?, pixels.buffer()],
        &[width, height, planes.offset()],
        [width.div_ceil(WORKGROUP), height.div_ceil(WORKGROUP), 1],
    );
    crate::readback::read_range(gpu, pixels.buffer(), 0, u64::from(width * height) * 4).await
}

/// [`to_rgba8`] on the CPU, byte for byte: each value becomes
/// `floor((clamp(v, −1, 1) + 1)·127.5 + 0.5)`, alpha 255. For the CPU
/// fallback, which has its planes in memory already.
pub fn to_rgba8_cpu(planes: &[f32], width: usize, height: usize) -> Vec<u8> {
    let pixels = width * height;
    assert_eq!(planes.len(), 3 * pixels, "planes [3, {height}, {width}]");
    let byte = |v: f32| ((v.clamp(-1.0, 1.0) + 1.0) * 127.5 + 0.5).floor() as u8;
    (0..pixels)
        .flat_map(|i| {
            [
                byte(planes[i]),
                byte(planes[pixels + i]),
                byte(planes[2 * pixels + i]),
                255,
            ]
        })
        .collect()
}

/// The engine self-test image: three planes of values on an exact binary grid
/// ((k - 160) / 128 for an integer k in 0..300, so from -1.25 to about 1.09),
/// which exercises both clamps and makes every expected byte exact. `phase`
/// shifts the pattern so that different inputs give different frames.
pub fn test_pattern(width: u32, height: u32, phase: u32) -> Vec<f32> {
    let mut planes = Vec::with_capacity(3 * width as usize * height as usize);
    for channel in 0..3u32 {
        for y in 0..height {
            for x in 0..width {
                let k = (3 * x + 5 * (channel + 1) * y + 70 * channel + 7 * phase) % 300;
                planes.push((k as f32 - 160.0) / 128.0);
            }
        }
    }
    planes
}
