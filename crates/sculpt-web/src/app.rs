//! The page today: start the GPU, describe it, and run the engine self-test
//! (a compute kernel's output drawn on the canvas) on demand.

use std::{cell::Cell, rc::Rc};

use sculpt_gpu::{
    Gpu, Tensor,
    kernels::frame::{test_pattern, to_rgba8},
};
use wasm_bindgen::{Clamped, JsCast, closure::Closure};
use web_sys::{
    CanvasRenderingContext2d, Event, HtmlButtonElement, HtmlCanvasElement, HtmlInputElement,
    ImageData,
};

use crate::{device_panel, dom};

const MAX_PHASE: u32 = 1000;

/// Entry point: runs once when the wasm module loads.
pub fn start() {
    console_error_panic_hook::set_once();
    wasm_bindgen_futures::spawn_local(async {
        if let Err(message) = run().await {
            dom::set_state("error");
            dom::set_status("Sculpt cannot run here.");
            dom::show_error(&message);
        }
    });
}

struct SelfTest {
    gpu: Gpu,
    canvas: HtmlCanvasElement,
    busy: Cell<bool>,
    frames_drawn: Cell<u32>,
}

async fn run() -> Result<(), String> {
    dom::set_status("Starting the GPU…");
    let gpu = Gpu::new().await.map_err(|e| e.to_string())?;
    device_panel::show(&gpu.report)?;
    let app = Rc::new(SelfTest {
        gpu,
        canvas: dom::element("frame")?,
        busy: Cell::new(false),
        frames_drawn: Cell::new(0),
    });

    let form: web_sys::HtmlFormElement = dom::element("selftest")?;
    let on_submit = {
        let app = Rc::clone(&app);
        Closure::<dyn FnMut(Event)>::new(move |event: Event| {
            event.prevent_default();
            let app = Rc::clone(&app);
            wasm_bindgen_futures::spawn_local(async move { app.draw_requested().await });
        })
    };
    form.add_event_listener_with_callback("submit", on_submit.as_ref().unchecked_ref())
        .map_err(|_| "cannot listen to the self-test form")?;
    // The listener lives as long as the page.
    on_submit.forget();

    dom::element::<HtmlButtonElement>("draw")?.set_disabled(false);
    app.draw_requested().await;
    Ok(())
}

impl SelfTest {
    async fn draw_requested(&self) {
        if self.busy.replace(true) {
            return;
        }
        let result = self.draw().await;
        self.busy.set(false);
        match result {
            Ok(()) => dom::set_state("ready"),
            Err(message) => {
                dom::set_state("error");
                dom::show_error(&message);
            }
        }
    }

    async fn draw(&self) -> Result<(), String> {
        let phase = read_phase()?;
        dom::clear_error();
        dom::set_state("busy");
        let (width, height) = (self.canvas.width(), self.canvas.height());
        let started = dom::now_ms();
        let planes = Tensor::from_slice(
            &self.gpu,
            &test_pattern(width, height, phase),
            &[3, height as usize, width as usize],
        )
        .map_err(|e| e.to_string())?;
        let pixels = to_rgba8(&self.gpu, &planes)
            .await
            .map_err(|e| e.to_string())?;
        put_pixels(&self.canvas, &pixels, width, height)?;
        let frames = self.frames_drawn.get() + 1;
        self.frames_drawn.set(frames);
        self.canvas
            .set_attribute("data-phase", &phase.to_string())
            .map_err(|_| "cannot mark the canvas")?;
        self.canvas
            .set_attribute("data-frames", &frames.to_string())
            .map_err(|_| "cannot mark the canvas")?;
        dom::set_status(&format!(
            "Drew phase {phase} on {} in {:.1} ms.",
            self.gpu.report.adapter_name,
            dom::now_ms() - started
        ));
        Ok(())
    }
}

fn read_phase() -> Result<u32, String> {
    let input: HtmlInputElement = dom::element("phase")?;
    let text = input.value();
    text.trim()
        .parse::<u32>()
        .ok()
        .filter(|phase| *phase <= MAX_PHASE)
        .ok_or_else(|| {
            format!("Pattern phase must be a whole number from 0 to {MAX_PHASE}, not \"{text}\".")
        })
}

fn put_pixels(
    canvas: &HtmlCanvasElement,
    pixels: &[u8],
    width: u32,
    height: u32,
) -> Result<(), String> {
    let context = canvas
        .get_context("2d")
        .ok()
        .flatten()
        .and_then(|context| context.dyn_into::<CanvasRenderingContext2d>().ok())
        .ok_or("the canvas has no 2D context")?;
    let image = ImageData::new_with_u8_clamped_array_and_sh(Clamped(pixels), width, height)
        .map_err(|_| "cannot wrap the frame as ImageData")?;
    context
        .put_image_data(&image, 0.0, 0.0)
        .map_err(|_| "cannot draw the frame on the canvas".into())
}
