//! The page today: start the engine in its worker, describe the GPU, and run
//! the engine self-test (a frame drawn by the GPU straight into the canvas)
//! on demand.

use std::{
    cell::{Cell, RefCell},
    rc::Rc,
};

use wasm_bindgen::{JsCast, closure::Closure};
use web_sys::{Event, HtmlButtonElement, HtmlCanvasElement, HtmlInputElement};

use crate::{
    device_panel, dom,
    engine_client::EngineClient,
    protocol::{FromEngine, ToEngine},
};

const MAX_PHASE: u32 = 1000;

/// Entry point: runs once when the wasm module loads.
pub fn start() {
    console_error_panic_hook::set_once();
    keep_for_offline();
    if let Err(message) = run() {
        fail(&message);
    }
}

/// Registers the service worker (www/sw.js) that keeps the app and the
/// built-in model for use without a network. Failing that is no reason to
/// stop: the app works online, so it only warns in the console.
fn keep_for_offline() {
    let Some(window) = web_sys::window() else {
        return;
    };
    let registration = window.navigator().service_worker().register("./sw.js");
    wasm_bindgen_futures::spawn_local(async move {
        if let Err(error) = wasm_bindgen_futures::JsFuture::from(registration).await {
            web_sys::console::warn_2(&"Sculpt will not work offline:".into(), &error);
        }
    });
}

fn fail(message: &str) {
    dom::set_state("error");
    dom::set_status("Sculpt cannot run here.");
    dom::show_error(message);
}

struct Page {
    canvas: HtmlCanvasElement,
    engine: RefCell<Option<EngineClient>>,
    adapter: RefCell<String>,
    busy: Cell<bool>,
    frames_drawn: Cell<u32>,
}

fn run() -> Result<(), String> {
    dom::set_status("Starting the engine…");
    let page = Rc::new(Page {
        canvas: dom::element("frame")?,
        engine: RefCell::new(None),
        adapter: RefCell::new(String::new()),
        busy: Cell::new(false),
        frames_drawn: Cell::new(0),
    });
    let engine = EngineClient::start(&page.canvas, {
        let page = Rc::downgrade(&page);
        move |reply| {
            if let Some(page) = page.upgrade() {
                page.on_reply(reply);
            }
        }
    })?;
    *page.engine.borrow_mut() = Some(engine);

    let form: web_sys::HtmlFormElement = dom::element("selftest")?;
    let on_submit = {
        let page = Rc::clone(&page);
        Closure::<dyn FnMut(Event)>::new(move |event: Event| {
            event.prevent_default();
            page.draw_requested();
        })
    };
    form.add_event_listener_with_callback("submit", on_submit.as_ref().unchecked_ref())
        .map_err(|_| "cannot listen to the self-test form")?;
    // The listener lives as long as the page.
    on_submit.forget();
    Ok(())
}

impl Page {
    fn on_reply(&self, reply: FromEngine) {
        match reply {
            FromEngine::Ready { device } => {
                if let Some((_, adapter)) = device.iter().find(|(label, _)| label == "Adapter") {
                    *self.adapter.borrow_mut() = adapter.clone();
                }
                if let Err(message) = device_panel::show(&device) {
                    dom::show_error(&message);
                }
                if let Ok(button) = dom::element::<HtmlButtonElement>("draw") {
                    button.set_disabled(false);
                }
                self.draw_requested();
            }
            // The engine client answers this one itself.
            FromEngine::Loaded => {}
            FromEngine::Unavailable { message } => {
                self.busy.set(false);
                fail(&message);
            }
            FromEngine::SelfTestDrawn { phase, ms } => {
                self.busy.set(false);
                let frames = self.frames_drawn.get() + 1;
                self.frames_drawn.set(frames);
                let _ = self.canvas.set_attribute("data-phase", &phase.to_string());
                let _ = self
                    .canvas
                    .set_attribute("data-frames", &frames.to_string());
                dom::set_status(&format!(
                    "Drew phase {phase} on {} in {ms:.1} ms.",
                    self.adapter.borrow()
                ));
                dom::set_state("ready");
            }
            FromEngine::Failed { message } => {
                self.busy.set(false);
                dom::set_state("error");
                dom::show_error(&message);
            }
        }
    }

    fn draw_requested(&self) {
        if self.busy.get() {
            return;
        }
        let sent = read_phase().and_then(|phase| {
            let engine = self.engine.borrow();
            let engine = engine.as_ref().ok_or("the engine is not running")?;
            engine.send(&ToEngine::SelfTest { phase })
        });
        match sent {
            Ok(()) => {
                self.busy.set(true);
                dom::clear_error();
                dom::set_state("busy");
            }
            Err(message) => {
                dom::set_state("error");
                dom::show_error(&message);
            }
        }
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
