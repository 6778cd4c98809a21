//! The page's canvas where there is no WebGPU: frames put on it with its 2d
//! context (`putImageData`), for the CPU fallback.

use sculpt_flux::generation::Frame;
use wasm_bindgen::{Clamped, JsCast};
use web_sys::{ImageData, OffscreenCanvas, OffscreenCanvasRenderingContext2d};

pub struct Canvas2d {
    canvas: OffscreenCanvas,
    context: OffscreenCanvasRenderingContext2d,
}

impl Canvas2d {
    /// Takes the canvas's 2d context; `reason` says why WebGPU could not be
    /// used, for the error should 2d fail too.
    pub fn new(canvas: OffscreenCanvas, reason: &str) -> Result<Self, String> {
        let context = canvas
            .get_context("2d")
            .ok()
            .flatten()
            .and_then(|context| context.dyn_into::<OffscreenCanvasRenderingContext2d>().ok())
            .ok_or_else(|| {
                format!(
                    "No WebGPU here ({reason}), and the canvas cannot be drawn on with 2d either"
                )
            })?;
        Ok(Self { canvas, context })
    }

    /// Puts `frame` on the canvas, sized to it.
    pub fn draw(&self, frame: &Frame) -> Result<(), String> {
        let (width, height) = (frame.width as u32, frame.height as u32);
        if (self.canvas.width(), self.canvas.height()) != (width, height) {
            self.canvas.set_width(width);
            self.canvas.set_height(height);
        }
        let image =
            ImageData::new_with_u8_clamped_array_and_sh(Clamped(&frame.rgba), width, height)
                .map_err(|_| format!("cannot make a {width}×{height} image to draw"))?;
        self.context
            .put_image_data(&image, 0.0, 0.0)
            .map_err(|_| "cannot draw on the canvas".to_string())
    }
}
