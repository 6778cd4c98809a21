//! Drawing an image tensor straight into a render target: a canvas's
//! current texture in the browser (so a step's frame reaches the screen
//! without a GPU → CPU → GPU round trip), or any texture natively.
//!
//! The image is planar RGB [3, height, width] in [-1, 1], what the
//! autoencoder decodes to; the target may be any size (nearest-neighbour
//! scaling) and any non-sRGB 8-bit colour format. Each pixel gets the byte
//! values [`crate::kernels::frame::to_rgba8`] computes.

use std::{cell::RefCell, collections::HashMap};

use crate::{Gpu, GpuError, Tensor};

const SHADER: &str = include_str!("present.wgsl");

/// Render pipelines per target format, made on first use.
#[derive(Default)]
pub(crate) struct Presenter {
    pipelines: RefCell<HashMap<wgpu::TextureFormat, wgpu::RenderPipeline>>,
}

impl Presenter {
    fn pipeline(&self, gpu: &Gpu, format: wgpu::TextureFormat) -> wgpu::RenderPipeline {
        self.pipelines
            .borrow_mut()
            .entry(format)
            .or_insert_with(|| {
                gpu.stats.pipeline_created();
                let module = gpu
                    .device
                    .create_shader_module(wgpu::ShaderModuleDescriptor {
                        label: Some("present.wgsl"),
                        source: wgpu::ShaderSource::Wgsl(SHADER.into()),
                    });
                gpu.device
                    .create_render_pipeline(&wgpu::RenderPipelineDescriptor {
                        label: Some("present"),
                        layout: None,
                        vertex: wgpu::VertexState {
                            module: &module,
                            entry_point: Some("cover"),
                            compilation_options: Default::default(),
                            buffers: &[],
                        },
                        fragment: Some(wgpu::FragmentState {
                            module: &module,
                            entry_point: Some("draw"),
                            compilation_options: Default::default(),
                            targets: &[Some(format.into())],
                        }),
                        primitive: wgpu::PrimitiveState::default(),
                        depth_stencil: None,
                        multisample: wgpu::MultisampleState::default(),
                        multiview_mask: None,
                        cache: None,
                    })
            })
            .clone()
    }
}

/// Records a draw of `image` ([3, height, width]) covering all of `target`
/// (a view of a texture of `target_size` and `format`). Nothing is
/// submitted: call [`Gpu::flush`] (and present the canvas texture) after.
pub fn draw_image(
    gpu: &Gpu,
    image: &Tensor,
    target: &wgpu::TextureView,
    format: wgpu::TextureFormat,
    target_size: (u32, u32),
) -> Result<(), GpuError> {
    let &[3, height, width] = image.shape() else {
        return Err(GpuError::Shape(format!(
            "an image to draw is [3, height, width], not {:?}",
            image.shape()
        )));
    };
    if format.is_srgb() || target_size.0 == 0 || target_size.1 == 0 {
        return Err(GpuError::Shape(format!(
            "cannot draw into a {}×{} {format:?} target: it must be non-empty and not sRGB",
            target_size.0, target_size.1
        )));
    }
    let pipeline = gpu.presenter.pipeline(gpu, format);
    let params = gpu.recorder.params(&[
        width as u32,
        height as u32,
        image.offset(),
        target_size.0,
        target_size.1,
    ]);
    let bind_group = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("present"),
        layout: &pipeline.get_bind_group_layout(0),
        entries: &[
            wgpu::BindGroupEntry {
                binding: 0,
                resource: image.f32_buffer("drawing an image")?.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 1,
                resource: wgpu::BindingResource::Buffer(params),
            },
        ],
    });
    gpu.recorder.with_encoder(|encoder| {
        let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
            label: Some("present"),
            color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                view: target,
                depth_slice: None,
                resolve_target: None,
                ops: wgpu::Operations {
                    load: wgpu::LoadOp::Clear(wgpu::Color::BLACK),
                    store: wgpu::StoreOp::Store,
                },
            })],
            depth_stencil_attachment: None,
            timestamp_writes: None,
            occlusion_query_set: None,
            multiview_mask: None,
        });
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, &bind_group, &[]);
        pass.draw(0..3, 0..1);
    });
    Ok(())
}
