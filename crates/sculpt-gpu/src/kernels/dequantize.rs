//! Dequantization of repacked weights to f32 on the GPU (`dequantize.wgsl`,
//! decoding with `weights.wgsl`).

use wgpu::util::DeviceExt;

use crate::{
    Gpu, GpuError,
    readback::read_buffer,
    weights::{PackedWeight, WeightFormat},
};

const WORKGROUP: u32 = 64;

/// The WGSL source of the kernel: its own file, then the shared decoding.
const SOURCE: &str = concat!(
    include_str!("dequantize.wgsl"),
    include_str!("weights.wgsl")
);

/// Why a weight could not be dequantized.
#[derive(Debug, thiserror::Error)]
pub enum DequantizeError {
    #[error("this dequantize kernel was built for {kernel} weights, but the weight is {weight}")]
    FormatMismatch {
        kernel: WeightFormat,
        weight: WeightFormat,
    },
    #[error(
        "the {what} of this weight takes {bytes} bytes, more than the {limit} bytes a storage buffer may have on this device"
    )]
    TooLarge {
        what: &'static str,
        bytes: u64,
        limit: u64,
    },
    #[error(transparent)]
    Gpu(#[from] GpuError),
}

/// Expands weights of one format to f32 on the GPU. Build it once per device
/// and format: the format is a pipeline constant, compiled in here.
pub struct DequantizeKernel {
    format: WeightFormat,
    pipeline: wgpu::ComputePipeline,
}

impl DequantizeKernel {
    pub fn new(gpu: &Gpu, format: WeightFormat) -> Self {
        let module = gpu
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some("dequantize.wgsl"),
                source: wgpu::ShaderSource::Wgsl(SOURCE.into()),
            });
        let pipeline = gpu
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some("dequantize"),
                layout: None,
                module: &module,
                entry_point: Some("dequantize"),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants: &[("WEIGHT_FORMAT", f64::from(format.shader_id()))],
                    ..Default::default()
                },
                cache: None,
            });
        Self { format, pipeline }
    }

    pub fn format(&self) -> WeightFormat {
        self.format
    }

    /// Returns the weight's `rows * cols` values, row-major, as f32.
    pub async fn dequantize(
        &self,
        gpu: &Gpu,
        weight: &PackedWeight,
    ) -> Result<Vec<f32>, DequantizeError> {
        if weight.format() != self.format {
            return Err(DequantizeError::FormatMismatch {
                kernel: self.format,
                weight: weight.format(),
            });
        }
        let limit = gpu.max_binding_bytes();
        let check = |what, bytes: u64| {
            if bytes > limit {
                Err(DequantizeError::TooLarge { what, bytes, limit })
            } else {
                Ok(bytes)
            }
        };
        check("packed words", 4 * weight.words().len() as u64)?;
        let output_size = check("f32 values", 4 * (weight.rows() * weight.cols()) as u64)?;
        // repack guarantees rows * cols fits a u32.
        let (rows, cols) = (weight.rows() as u32, weight.cols() as u32);

        let device = &gpu.device;
        let input = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("dequantize weights"),
            contents: bytemuck::cast_slice(weight.words()),
            usage: wgpu::BufferUsages::STORAGE,
        });
        let output = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("dequantize values"),
            size: output_size,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let params = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("dequantize params"),
            contents: bytemuck::cast_slice(&[rows, cols]),
            usage: wgpu::BufferUsages::UNIFORM,
        });
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("dequantize"),
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
        let (x, y) = dispatch_size(rows, cols, gpu.report.max_compute_workgroups_per_dimension);
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("dequantize"),
        });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("dequantize"),
                timestamp_writes: None,
            });
            pass.set_pipeline(&self.pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            pass.dispatch_workgroups(x, y, 1);
        }
        gpu.queue.submit([encoder.finish()]);
        let bytes = read_buffer(gpu, &output, output_size).await?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }
}

/// Workgroups in x and y for one invocation per 4 values of each row: as
/// many as one dimension allows in x, the rest in rows of y. Weights under
/// the buffer limits stay far below `max_per_dimension` squared.
fn dispatch_size(rows: u32, cols: u32, max_per_dimension: u32) -> (u32, u32) {
    let quads = u64::from(rows) * u64::from(cols.div_ceil(4));
    let workgroups = quads.div_ceil(u64::from(WORKGROUP));
    let x = workgroups.min(u64::from(max_per_dimension.max(1)));
    let y = workgroups.div_ceil(x);
    (x as u32, y as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispatch_covers_every_quad_within_the_limit() {
        assert_eq!(dispatch_size(1, 3, 65535), (1, 1));
        assert_eq!(dispatch_size(2, 256, 65535), (2, 1));
        // 3072 x 12288: 9,437,184 quads, 147,456 workgroups.
        let (x, y) = dispatch_size(3072, 12288, 65535);
        assert_eq!((x, y), (65535, 3));
        assert!(u64::from(x) * u64::from(y) * 64 >= 3072 * 12288 / 4);
    }
}
