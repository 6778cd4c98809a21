//! "…or draw one": a small drawing pad whose picture a run can start from.
//! Pointer input (mouse, pen, touch) draws round strokes at the pad's own
//! resolution; Clear fills it with the background colour.

use std::{cell::Cell, rc::Rc};

use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{CanvasRenderingContext2d, Event, HtmlCanvasElement, HtmlInputElement, PointerEvent};

use crate::page::dom;

/// The brush's radius, in the pad's pixels.
const BRUSH: f64 = 3.0;

pub struct Sketch {
    canvas: HtmlCanvasElement,
    context: CanvasRenderingContext2d,
    /// Where the stroke being drawn last was, if one is.
    last: Cell<Option<(f64, f64)>>,
}

impl Sketch {
    /// Wires the pad and Clear; fills it with the background colour.
    pub fn wire() -> Result<Rc<Self>, String> {
        let canvas: HtmlCanvasElement = dom::element("vis-sketch")?;
        let context = canvas
            .get_context("2d")
            .ok()
            .flatten()
            .and_then(|context| context.dyn_into::<CanvasRenderingContext2d>().ok())
            .ok_or("cannot draw on the drawing pad")?;
        let sketch = Rc::new(Sketch {
            canvas,
            context,
            last: Cell::new(None),
        });
        sketch.clear();
        let on = |event: &str, action: fn(&Sketch, &PointerEvent)| {
            let sketch = Rc::clone(&sketch);
            dom::listen("vis-sketch", event, move |event: Event| {
                if let Some(pointer) = event.dyn_ref::<PointerEvent>() {
                    event.prevent_default();
                    action(&sketch, pointer);
                }
            })
        };
        on("pointerdown", |sketch, event| {
            let _ = sketch.canvas.set_pointer_capture(event.pointer_id());
            sketch.last.set(None);
            sketch.stroke_to(event);
        })?;
        on("pointermove", |sketch, event| {
            if event.buttons() != 0 {
                sketch.stroke_to(event);
            }
        })?;
        on("pointerup", |sketch, _| sketch.last.set(None))?;
        let cleared = Rc::clone(&sketch);
        dom::listen("vis-sketch-clear", "click", move |_: Event| cleared.clear())?;
        Ok(sketch)
    }

    fn clear(&self) {
        self.context
            .set_fill_style_str(&colour("vis-paper", "#1040c0"));
        self.context.fill_rect(
            0.0,
            0.0,
            f64::from(self.canvas.width()),
            f64::from(self.canvas.height()),
        );
    }

    /// Draws from the stroke's last point to the pointer.
    fn stroke_to(&self, event: &PointerEvent) {
        let rect = self.canvas.get_bounding_client_rect();
        if rect.width() == 0.0 || rect.height() == 0.0 {
            return;
        }
        let x = (f64::from(event.client_x()) - rect.left()) * f64::from(self.canvas.width())
            / rect.width();
        let y = (f64::from(event.client_y()) - rect.top()) * f64::from(self.canvas.height())
            / rect.height();
        let ink = colour("vis-ink", "#ffcc00");
        let context = &self.context;
        context.set_stroke_style_str(&ink);
        context.set_fill_style_str(&ink);
        context.set_line_width(2.0 * BRUSH);
        context.set_line_cap("round");
        let (from_x, from_y) = self.last.get().unwrap_or((x, y));
        context.begin_path();
        context.move_to(from_x, from_y);
        context.line_to(x, y);
        context.stroke();
        context.begin_path();
        let _ = context.arc(x, y, BRUSH, 0.0, std::f64::consts::TAU);
        context.fill();
        self.last.set(Some((x, y)));
    }

    /// The drawing, decoded as any start image is.
    pub async fn picture(&self) -> Result<web_sys::ImageBitmap, String> {
        let window = web_sys::window().ok_or("no window")?;
        let promise = window
            .create_image_bitmap_with_html_canvas_element(&self.canvas)
            .map_err(|_| "cannot read the drawing")?;
        Ok(JsFuture::from(promise)
            .await
            .map_err(|_| "cannot read the drawing")?
            .unchecked_into())
    }
}

fn colour(id: &str, fallback: &str) -> String {
    dom::element::<HtmlInputElement>(id)
        .map(|input| input.value())
        .unwrap_or_else(|_| fallback.into())
}
