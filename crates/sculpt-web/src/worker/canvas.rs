//! The page's canvas as a render target: a wgpu surface over the
//! `OffscreenCanvas` the page transferred to the worker.

use sculpt_gpu::{Gpu, Tensor, present::draw_image};
use web_sys::OffscreenCanvas;

pub struct CanvasTarget {
    canvas: OffscreenCanvas,
    surface: wgpu::Surface<'static>,
    config: std::cell::RefCell<wgpu::SurfaceConfiguration>,
}

impl CanvasTarget {
    pub fn new(gpu: &Gpu, canvas: OffscreenCanvas) -> Result<Self, String> {
        let (width, height) = (canvas.width().max(1), canvas.height().max(1));
        let surface = gpu
            .instance
            .create_surface(wgpu::SurfaceTarget::OffscreenCanvas(canvas.clone()))
            .map_err(|e| format!("cannot draw into the canvas with WebGPU: {e}"))?;
        let mut config = surface
            .get_default_config(&gpu.adapter, width, height)
            .ok_or("the GPU cannot draw into this canvas")?;
        // The present shader writes the frame's bytes as they are: an sRGB
        // target would re-encode them.
        let capabilities = surface.get_capabilities(&gpu.adapter);
        config.format = capabilities
            .formats
            .iter()
            .copied()
            .find(|format| !format.is_srgb())
            .ok_or("the canvas offers no linear 8-bit colour format")?;
        config.alpha_mode = capabilities
            .alpha_modes
            .iter()
            .copied()
            .find(|mode| *mode == wgpu::CompositeAlphaMode::Opaque)
            .unwrap_or(config.alpha_mode);
        surface.configure(&gpu.device, &config);
        Ok(Self {
            canvas,
            surface,
            config: std::cell::RefCell::new(config),
        })
    }

    /// The canvas itself, to draw on it with another device.
    pub fn offscreen(&self) -> OffscreenCanvas {
        self.canvas.clone()
    }

    pub fn size(&self) -> (u32, u32) {
        let config = self.config.borrow();
        (config.width, config.height)
    }

    /// Gives the canvas (and so the page's placeholder) this many pixels;
    /// the page's CSS decides how large they look.
    pub fn resize(&self, gpu: &Gpu, width: u32, height: u32) -> Result<(), String> {
        if width == 0 || height == 0 {
            return Err(format!(
                "a canvas of {width}×{height} pixels cannot be drawn"
            ));
        }
        if self.size() != (width, height) {
            self.canvas.set_width(width);
            self.canvas.set_height(height);
            let mut config = self.config.borrow_mut();
            config.width = width;
            config.height = height;
            self.surface.configure(&gpu.device, &config);
        }
        Ok(())
    }

    /// Draws `image` ([3, h, w] in [-1, 1]) over the whole canvas and
    /// presents it.
    pub fn show(&self, gpu: &Gpu, image: &Tensor) -> Result<(), String> {
        let frame = match self.surface.get_current_texture() {
            wgpu::CurrentSurfaceTexture::Success(frame)
            | wgpu::CurrentSurfaceTexture::Suboptimal(frame) => frame,
            other => return Err(format!("the canvas has no texture to draw into: {other:?}")),
        };
        let view = frame
            .texture
            .create_view(&wgpu::TextureViewDescriptor::default());
        draw_image(gpu, image, &view, self.config.borrow().format, self.size())
            .map_err(|e| e.to_string())?;
        gpu.flush();
        gpu.queue.present(frame);
        Ok(())
    }
}
