//! The page: start the engine in its worker, then generate on request,
//! showing every step as the engine draws it into the canvas; and the
//! engine self-test (a frame of known pixels) for diagnosis.

use std::{
    cell::{Cell, RefCell},
    rc::Rc,
};

use wasm_bindgen::{JsCast, closure::Closure};
use web_sys::{Event, HtmlButtonElement, HtmlCanvasElement, HtmlFormElement, HtmlInputElement};

use crate::{
    device_panel, dom,
    engine_client::EngineClient,
    generator::{self, History},
    models_panel::{self, ChosenFiles},
    protocol::{Backend, FromEngine, ToEngine},
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

/// Says, visibly and for good, that generation runs on the CPU fallback.
fn show_cpu_notice() {
    if let Ok(notice) = dom::element::<web_sys::HtmlElement>("backend-notice") {
        notice.set_text_content(Some(
            "No WebGPU here: running on the CPU, slower than on a GPU (each step's \
             time is shown below). Only the built-in model runs.",
        ));
        notice.set_hidden(false);
    }
    let _ = dom::document()
        .document_element()
        .map(|root| root.set_attribute("data-backend", "cpu"));
}

fn fail(message: &str) {
    dom::set_state("error");
    dom::set_status("Sculpt cannot run here.");
    dom::show_error(message);
}

/// What the engine is busy with, if anything: one request at a time.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Busy {
    Idle,
    SelfTest,
    Generating,
    /// Reading the headers of files the user chose.
    CheckingFiles,
    Importing,
    /// Checking or deleting an imported model.
    Managing,
}

pub(crate) struct Page {
    canvas: HtmlCanvasElement,
    engine: RefCell<Option<EngineClient>>,
    adapter: RefCell<String>,
    busy: Cell<Busy>,
    frames_drawn: Cell<u32>,
    history: History,
    pub(crate) chosen: ChosenFiles,
}

fn run() -> Result<(), String> {
    dom::set_status("Starting the engine…");
    let page = Rc::new(Page {
        canvas: dom::element("frame")?,
        engine: RefCell::new(None),
        adapter: RefCell::new(String::new()),
        busy: Cell::new(Busy::Idle),
        frames_drawn: Cell::new(0),
        history: History::new(),
        chosen: ChosenFiles::default(),
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

    on_submit(&page, "selftest", Page::draw_requested)?;
    on_submit(&page, "generate", Page::generate_requested)?;
    on_submit(&page, "import", Page::import_requested)?;
    models_panel::wire(&page)?;
    on_click(&page, "reset-gpu", |page| {
        if let Err(message) = page.send(&ToEngine::ResetGpu) {
            dom::show_error(&message);
        }
    })?;
    generator::wire_controls(&page)?;
    page.history.show_stored();
    Ok(())
}

/// Calls `action` when form `id` is submitted (Enter in a field, or its
/// submit button), instead of the browser's navigation.
fn on_submit(page: &Rc<Page>, id: &str, action: fn(&Page)) -> Result<(), String> {
    let form: HtmlFormElement = dom::element(id)?;
    let page = Rc::clone(page);
    let listener = Closure::<dyn FnMut(Event)>::new(move |event: Event| {
        event.prevent_default();
        action(&page);
    });
    form.add_event_listener_with_callback("submit", listener.as_ref().unchecked_ref())
        .map_err(|_| format!("cannot listen to the {id} form"))?;
    // The listener lives as long as the page.
    listener.forget();
    Ok(())
}

/// Calls `action` when button `id` is pressed (mouse, Enter or Space).
fn on_click(page: &Rc<Page>, id: &str, action: fn(&Page)) -> Result<(), String> {
    let button: HtmlButtonElement = dom::element(id)?;
    let page = Rc::clone(page);
    let listener = Closure::<dyn FnMut(Event)>::new(move |_: Event| action(&page));
    button
        .add_event_listener_with_callback("click", listener.as_ref().unchecked_ref())
        .map_err(|_| format!("cannot listen to #{id}"))?;
    // The listener lives as long as the page.
    listener.forget();
    Ok(())
}

impl Page {
    pub(crate) fn send(&self, request: &ToEngine) -> Result<(), String> {
        let engine = self.engine.borrow();
        engine
            .as_ref()
            .ok_or("the engine is not running")?
            .send(request)
    }

    fn set_busy(&self, busy: Busy) {
        self.busy.set(busy);
        let idle = busy == Busy::Idle;
        for id in ["draw", "generate-button"] {
            if let Ok(button) = dom::element::<HtmlButtonElement>(id) {
                button.set_disabled(!idle);
            }
        }
        models_panel::set_import_enabled(idle && self.chosen.importable());
        if let Ok(cancel) = dom::element::<HtmlButtonElement>("cancel") {
            cancel.set_disabled(busy != Busy::Generating);
        }
        dom::set_state(if idle { "ready" } else { "busy" });
    }

    fn on_reply(&self, reply: FromEngine) {
        match reply {
            FromEngine::Ready { device, backend } => {
                if let Some((_, adapter)) = device.iter().find(|(label, _)| label == "Adapter") {
                    *self.adapter.borrow_mut() = adapter.clone();
                }
                if backend == Backend::Cpu {
                    *self.adapter.borrow_mut() = "the CPU".into();
                    show_cpu_notice();
                }
                if let Err(message) = device_panel::show(&device) {
                    dom::show_error(&message);
                }
                self.set_busy(Busy::Idle);
                self.draw_requested();
                if let Err(message) = self.send(&ToEngine::ListModels) {
                    dom::show_error(&message);
                }
            }
            // The engine client answers this one itself.
            FromEngine::Loaded => {}
            FromEngine::Unavailable { message } => {
                self.set_busy(Busy::Idle);
                for id in ["draw", "generate-button"] {
                    if let Ok(button) = dom::element::<HtmlButtonElement>(id) {
                        button.set_disabled(true);
                    }
                }
                fail(&message);
            }
            FromEngine::SelfTestDrawn { phase, ms } => {
                self.set_busy(Busy::Idle);
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
            }
            FromEngine::Failed { message } => {
                if self.busy.get() == Busy::Importing {
                    models_panel::hide_import_progress();
                    // The store's record changed (an unfinished import).
                    let _ = self.send(&ToEngine::ListModels);
                }
                self.set_busy(Busy::Idle);
                generator::show_progress("");
                dom::set_state("error");
                dom::show_error(&message);
            }
            FromEngine::Progress { message } => generator::show_progress(&message),
            FromEngine::Step {
                index,
                count,
                t,
                ms,
            } => generator::show_step(&self.canvas, index, count, t, ms),
            FromEngine::Generated {
                png,
                settings,
                total_ms,
                warnings,
            } => {
                self.set_busy(Busy::Idle);
                generator::show_result(&self.history, &png, &settings, total_ms, &warnings);
            }
            FromEngine::Cancelled { steps } => {
                self.set_busy(Busy::Idle);
                generator::show_progress(&format!("Cancelled after {steps} steps."));
            }
            FromEngine::Models {
                models,
                stored_bytes,
            } => {
                if self.busy.get() == Busy::Managing {
                    self.set_busy(Busy::Idle);
                    generator::show_progress("");
                }
                if let Err(message) = models_panel::show_models(&models, stored_bytes) {
                    dom::show_error(&message);
                }
            }
            FromEngine::FilesChecked(check) => {
                self.chosen.set_importable(check.importable);
                self.set_busy(Busy::Idle);
                generator::show_progress("");
                if let Err(message) = models_panel::show_check(&check) {
                    dom::show_error(&message);
                }
            }
            FromEngine::Importing {
                phase,
                file,
                done,
                total,
            } => models_panel::show_import_progress(&phase, &file, done, total),
            FromEngine::Imported {
                name,
                models,
                stored_bytes,
            } => {
                self.set_busy(Busy::Idle);
                models_panel::hide_import_progress();
                generator::show_progress(&format!(
                    "Imported {name}: every chunk stored and checked. Pick it under Model."
                ));
                if let Err(message) = models_panel::show_models(&models, stored_bytes) {
                    dom::show_error(&message);
                }
            }
        }
    }

    /// New files chosen or dropped: the engine reads their headers and
    /// plans them before anything is stored.
    pub(crate) fn files_chosen(&self) {
        self.chosen.set_importable(false);
        models_panel::set_import_enabled(false);
        if self.chosen.is_empty() {
            return;
        }
        if self.busy.get() != Busy::Idle {
            dom::show_error("Wait for the engine to finish, then choose the files again.");
            return;
        }
        let sent = self
            .chosen
            .message("check_files", None)
            .and_then(|message| self.send_value(&message));
        match sent {
            Ok(()) => {
                dom::clear_error();
                generator::show_progress("Reading the files…");
                self.set_busy(Busy::CheckingFiles);
            }
            Err(message) => dom::show_error(&message),
        }
    }

    fn import_requested(&self) {
        if self.busy.get() != Busy::Idle {
            return;
        }
        let name = dom::element::<HtmlInputElement>("import-name")
            .map(|input| input.value().trim().to_string())
            .unwrap_or_default();
        if name.is_empty() {
            dom::show_error("Give the model a name to import it under.");
            return;
        }
        if name == crate::protocol::BUILT_IN_MODEL {
            dom::show_error(&format!(
                "\"{name}\" is the built-in model's name; choose another."
            ));
            return;
        }
        models_panel::request_persistence();
        let sent = self
            .chosen
            .message("import", Some(&name))
            .and_then(|message| self.send_value(&message));
        match sent {
            Ok(()) => {
                dom::clear_error();
                models_panel::show_import_progress("storing", "", 0, 1);
                self.set_busy(Busy::Importing);
            }
            Err(message) => dom::show_error(&message),
        }
    }

    /// Check or delete an imported model.
    pub(crate) fn model_action(&self, request: ToEngine) {
        if self.busy.get() != Busy::Idle {
            dom::show_error("Wait for the engine to finish first.");
            return;
        }
        match self.send(&request) {
            Ok(()) => {
                dom::clear_error();
                self.set_busy(Busy::Managing);
            }
            Err(message) => dom::show_error(&message),
        }
    }

    fn send_value(&self, message: &wasm_bindgen::JsValue) -> Result<(), String> {
        let engine = self.engine.borrow();
        engine
            .as_ref()
            .ok_or("the engine is not running")?
            .send_value(message)
    }

    fn draw_requested(&self) {
        if self.busy.get() != Busy::Idle {
            return;
        }
        let sent = read_phase().and_then(|phase| self.send(&ToEngine::SelfTest { phase }));
        match sent {
            Ok(()) => {
                dom::clear_error();
                self.set_busy(Busy::SelfTest);
            }
            Err(message) => {
                dom::set_state("error");
                dom::show_error(&message);
            }
        }
    }

    fn generate_requested(&self) {
        if self.busy.get() != Busy::Idle {
            return;
        }
        let sent = generator::read_settings()
            .and_then(|settings| self.send(&ToEngine::Generate(settings)));
        match sent {
            Ok(()) => {
                dom::clear_error();
                generator::show_progress("Starting…");
                let _ = self.canvas.set_attribute("data-steps", "0");
                self.set_busy(Busy::Generating);
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
