//! A computed run's pictures, kept in the page so that scrubbing back and
//! forth draws them at once with no work for the engine: for the start and
//! for each step, the noisy image x_t, the predicted clean image x̂₀ and the
//! prediction (nothing is predicted at the start).
//!
//! What this holds is bounded by the run: (1 + 3 × steps) frames of the
//! run's size, 16 KiB each at the built-in model's 64 × 64, and (1 + 2 ×
//! steps) latents, 4 KiB each there (16 channels of 8 × 8): at most 2.8 MiB
//! a run for 50 steps. A FLUX.1 run at 1024 × 1024 would hold 4 MiB a frame
//! and 1 MiB a latent.

use wasm_bindgen::JsCast;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, ImageData};

use crate::{
    page::dom,
    protocol::{RunFrame, ShowLatent},
};

/// The pictures of one point of the run.
pub struct Pictures {
    /// The time of the noisy image (after the step; the start's for 0).
    pub t: f64,
    pub noisy: ImageData,
    pub clean: Option<ImageData>,
    pub prediction: Option<ImageData>,
    /// The latents behind the noisy and the predicted clean image.
    pub noisy_latent: Option<Latent>,
    pub clean_latent: Option<Latent>,
}

/// A latent's values, `channels` planes of `height` × `width`.
pub struct Latent {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub values: Vec<f32>,
}

impl Pictures {
    /// The pictures in an engine reply's frames; `t` is the noisy image's.
    pub fn of(t: f64, frames: &[RunFrame]) -> Result<Self, String> {
        let find = |show| {
            frames
                .iter()
                .find(|frame| frame.show == show)
                .map(image_data)
                .transpose()
        };
        let latent = |show| -> Result<Option<Latent>, String> {
            let Some(sent) = frames
                .iter()
                .find(|frame| frame.show == show)
                .and_then(|frame| frame.latent.as_ref())
            else {
                return Ok(None);
            };
            let values = sent
                .floats()
                .ok_or("the engine sent a latent of the wrong size")?;
            Ok(Some(Latent {
                channels: sent.channels,
                height: sent.height,
                width: sent.width,
                values,
            }))
        };
        Ok(Self {
            t,
            noisy: find(ShowLatent::Current)?
                .ok_or("the engine sent a step without its noisy image")?,
            clean: find(ShowLatent::PredictedClean)?,
            prediction: match find(ShowLatent::Velocity)? {
                Some(velocity) => Some(velocity),
                None => find(ShowLatent::PredictedNoise)?,
            },
            noisy_latent: latent(ShowLatent::Current)?,
            clean_latent: latent(ShowLatent::PredictedClean)?,
        })
    }
}

/// The frame as an `ImageData` that owns a copy of its pixels (one made
/// from a slice would look into the wasm memory, which is reused).
pub fn image_data(frame: &RunFrame) -> Result<ImageData, String> {
    let pixels = js_sys::Uint8ClampedArray::new_with_length(frame.rgba.len() as u32);
    pixels.copy_from(&frame.rgba);
    ImageData::new_with_js_u8_clamped_array_and_sh(&pixels, frame.width as u32, frame.height as u32)
        .map_err(|_| {
            format!(
                "the engine sent a {}×{} frame of {} bytes",
                frame.width,
                frame.height,
                frame.rgba.len()
            )
        })
}

/// RGBA pixels as an `ImageData` that owns a copy of them (one made from a
/// slice would look into the wasm memory, which is reused).
pub fn owned_image(rgba: &[u8], width: usize, height: usize) -> Result<ImageData, ()> {
    let pixels = js_sys::Uint8ClampedArray::new_with_length(rgba.len() as u32);
    pixels.copy_from(rgba);
    ImageData::new_with_js_u8_clamped_array_and_sh(&pixels, width as u32, height as u32)
        .map_err(|_| ())
}

/// The three canvases a point of a run is drawn on.
pub struct Canvases {
    pub noisy: Canvas,
    clean: Canvas,
    prediction: Canvas,
}

impl Canvases {
    /// The canvases with these ids: the noisy image's, the predicted clean
    /// image's and the prediction's.
    pub fn find([noisy, clean, prediction]: [&str; 3]) -> Result<Self, String> {
        Ok(Self {
            noisy: Canvas::find(noisy)?,
            clean: Canvas::find(clean)?,
            prediction: Canvas::find(prediction)?,
        })
    }

    pub fn draw(&self, pictures: &Pictures) {
        self.noisy.draw(Some(&pictures.noisy));
        self.clean.draw(pictures.clean.as_ref());
        self.prediction.draw(pictures.prediction.as_ref());
        self.mark(pictures.t);
    }

    /// Only a noisy image (the forward process): nothing is predicted.
    pub fn draw_noisy(&self, noisy: &ImageData, t: f64) {
        self.noisy.draw(Some(noisy));
        self.clean.draw(None);
        self.prediction.draw(None);
        self.mark(t);
    }

    pub fn clear(&self) {
        for canvas in [&self.noisy, &self.clean, &self.prediction] {
            canvas.draw(None);
        }
        let _ = self.noisy.element.remove_attribute("data-t");
    }

    /// Says which noise level the noisy image shows (`data-t`, two
    /// decimals), for tests and styles.
    fn mark(&self, t: f64) {
        let _ = self
            .noisy
            .element
            .set_attribute("data-t", &format!("{t:.2}"));
    }
}

/// A 2d canvas of the page.
pub struct Canvas {
    pub element: HtmlCanvasElement,
    context: CanvasRenderingContext2d,
}

impl Canvas {
    pub fn find(id: &str) -> Result<Self, String> {
        let element: HtmlCanvasElement = dom::element(id)?;
        let context = element
            .get_context("2d")
            .ok()
            .flatten()
            .and_then(|context| context.dyn_into::<CanvasRenderingContext2d>().ok())
            .ok_or_else(|| format!("cannot draw on #{id}"))?;
        Ok(Self { element, context })
    }

    /// Puts `image` on the canvas, sized to it, exactly as it is; `None`
    /// clears it.
    pub fn draw(&self, image: Option<&ImageData>) {
        let Some(image) = image else {
            let (width, height) = (self.element.width(), self.element.height());
            self.context
                .clear_rect(0.0, 0.0, f64::from(width), f64::from(height));
            let _ = self.element.set_attribute("data-empty", "");
            return;
        };
        if (self.element.width(), self.element.height()) != (image.width(), image.height()) {
            self.element.set_width(image.width());
            self.element.set_height(image.height());
        }
        let _ = self.context.put_image_data(image, 0.0, 0.0);
        let _ = self.element.remove_attribute("data-empty");
    }
}

/// A computed run: its pictures from the start (0) to the last step
/// computed.
#[derive(Default)]
pub struct Timeline {
    points: Vec<Pictures>,
}

impl Timeline {
    pub fn push(&mut self, pictures: Pictures) {
        self.points.push(pictures);
    }

    /// How many points are computed (the start counts as one).
    pub fn len(&self) -> usize {
        self.points.len()
    }

    pub fn get(&self, index: usize) -> Option<&Pictures> {
        self.points.get(index)
    }

    pub fn points(&self) -> &[Pictures] {
        &self.points
    }

    pub fn last(&self) -> Option<&Pictures> {
        self.points.last()
    }

    /// The point this run had reached by noise level `t`: the last whose
    /// time is `t` or more (the start where none is). How two runs with
    /// different schedules are shown side by side.
    pub fn point_at(&self, t: f64) -> usize {
        self.points
            .iter()
            .rposition(|point| point.t >= t - 1e-9)
            .unwrap_or(0)
    }
}
