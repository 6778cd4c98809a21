//! Frames for canvases: planar RGB in [-1, 1] to packed RGBA8 (`frame.wgsl`).

use wgpu::util::DeviceExt;

use crate::{Gpu, GpuError, readback::read_buffer};

const WORKGROUP: u32 = 8;

/// Converts planar RGB images to RGBA8 pixels on the GPU. Build it once per
/// device: the pipeline is compiled here, not per frame.
pub struct FrameKernel {
    pipeline: wgpu::ComputePipeline,
}

impl FrameKernel {
    pub fn new(gpu: &Gpu) -> Self {
        let module = gpu
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some("frame.wgsl"),
                source: wgpu::ShaderSource::Wgsl(include_str!("frame.wgsl").into()),
            });
        let pipeline = gpu
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some("planar_to_rgba8"),
                layout: None,
                module: &module,
                entry_point: Some("planar_to_rgba8"),
                compilation_options: Default::default(),
                cache: None,
            });
        Self { pipeline }
    }

    /// `planes` holds R, G and B planes of `width * height` values each;
    /// returns `width * height * 4` bytes, row by row, R G B A per pixel.
    pub async fn planar_to_rgba8(
        &self,
        gpu: &Gpu,
        planes: &[f32],
        width: u32,
        height: u32,
    ) -> Result<Vec<u8>, GpuError> {
        let pixel_count = width as usize * height as usize;
        assert_eq!(
            planes.len(),
            3 * pixel_count,
            "planar_to_rgba8: expected 3 planes of {width}x{height}"
        );
        let device = &gpu.device;
        let input = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("frame planes"),
            contents: bytemuck::cast_slice(planes),
            usage: wgpu::BufferUsages::STORAGE,
        });
        let output_size = 4 * pixel_count as u64;
        let output = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("frame pixels"),
            size: output_size,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let params = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("frame params"),
            contents: bytemuck::cast_slice(&[width, height]),
            usage: wgpu::BufferUsages::UNIFORM,
        });
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("frame"),
            layout: &self.pipeline.get_bind_group_layout(0),
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: input.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: output.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: params.as_entire_binding(),
                },
            ],
        });
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("frame"),
        });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("planar_to_rgba8"),
                timestamp_writes: None,
            });
            pass.set_pipeline(&self.pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            pass.dispatch_workgroups(width.div_ceil(WORKGROUP), height.div_ceil(WORKGROUP), 1);
        }
        gpu.queue.submit([encoder.finish()]);
        read_buffer(gpu, &output, output_size).await
    }
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
