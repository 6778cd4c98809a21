//! The page's shell: starts the engine for its canvas, wires the
//! navigation and the surfaces (Generate, Visualize, Models), and hands
//! each of the engine's replies to the surface it concerns (a run's replies
//! to the visualizer, while it keeps the engine busy). The surfaces and panels never call back into
//! the shell: they send requests through the [`Session`] and the shell
//! shows the answers through them.

mod device_panel;
mod dom;
mod engine_choice;
mod generator;
mod handoff;
mod history;
mod model_picker;
mod models_panel;
mod nav;
mod seed;
mod session;
mod start_image;
mod start_picker;
mod visualizer;

use std::rc::Rc;

use web_sys::HtmlCanvasElement;

use crate::{
    engine_client::EngineClient,
    protocol::{Backend, CPU_BY_CHOICE, FromEngine, SOFTWARE_WEBGPU, ToEngine, WHY_NOT_WEBGPU},
};
use device_panel::DevicePanel;
use generator::Generator;
use models_panel::ModelsPanel;
use session::{Busy, Session};
use visualizer::Visualizer;

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

/// Says, visibly and for good, that generation runs on the CPU engine, and
/// why in one line: WebGPU missing, rendering in software, or the CPU
/// chosen (`reason` is the engine's "Why not WebGPU").
fn show_cpu_notice(reason: Option<&str>) {
    let text = match reason {
        Some(reason) if reason.starts_with(SOFTWARE_WEBGPU) => {
            format!("Running on the CPU engine: {reason}.")
        }
        Some(CPU_BY_CHOICE) => "Running on the CPU engine, as chosen under \"About this \
                                device\". Only the built-in model runs."
            .to_string(),
        _ => "No WebGPU here: running on the CPU, slower than on a GPU (each step's \
              time is shown below). Only the built-in model runs."
            .to_string(),
    };
    if let Ok(notice) = dom::element::<web_sys::HtmlElement>("backend-notice") {
        notice.set_text_content(Some(&text));
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

/// Everything that shows the engine's replies.
struct Shell {
    session: Rc<Session>,
    generator: Generator,
    visualizer: Visualizer,
    models: ModelsPanel,
    device: DevicePanel,
}

fn run() -> Result<(), String> {
    dom::set_status("Starting the engine…");
    nav::wire()?;
    let canvas: HtmlCanvasElement = dom::element("frame")?;
    let session = Rc::new(Session::new());
    let shell = Shell {
        generator: Generator::wire(&session, canvas.clone())?,
        visualizer: Visualizer::wire(&session)?,
        models: ModelsPanel::wire(&session)?,
        device: DevicePanel::wire(&session, canvas.clone())?,
        session: Rc::clone(&session),
    };
    // The engine's reply handler owns the shell: both live as long as the page.
    engine_choice::wire()?;
    let engine = EngineClient::start(&canvas, engine_choice::stored(), move |reply| {
        shell.on_reply(reply)
    })?;
    session.set_engine(engine);
    history::wire()?;
    history::show_kept();
    Ok(())
}

impl Shell {
    fn on_reply(&self, reply: FromEngine) {
        let session = &self.session;
        match reply {
            FromEngine::Ready { device, backend } => {
                if backend == Backend::Cpu {
                    let reason = device
                        .iter()
                        .find(|(label, _)| label == WHY_NOT_WEBGPU)
                        .map(|(_, reason)| reason.as_str());
                    show_cpu_notice(reason);
                }
                if let Err(message) = self.device.show_device(&device, backend) {
                    dom::show_error(&message);
                }
                session.set_busy(Busy::Idle);
                dom::set_status("Ready: type a prompt and press Generate.");
                session.send(ToEngine::ListModels);
            }
            // The engine client answers this one itself; the visualizer
            // never ends its run (a generation replaces it).
            FromEngine::Loaded | FromEngine::RunEnded => {}
            FromEngine::RunStarted {
                schedule,
                warnings,
                frames,
                ..
            } => self.visualizer.on_run_started(schedule, &frames, &warnings),
            FromEngine::RunDrawn { t, frames, .. } => self.visualizer.on_run_drawn(t, &frames),
            FromEngine::Unavailable { message } => {
                session.set_busy(Busy::Unavailable);
                fail(&message);
            }
            FromEngine::SelfTestDrawn { phase, ms } => {
                session.set_busy(Busy::Idle);
                self.device.show_self_test(phase, ms);
            }
            FromEngine::Failed { message } => {
                if session.busy() == Busy::Visualizing {
                    self.visualizer.on_failed();
                }
                if session.busy() == Busy::Importing {
                    models_panel::hide_import_progress();
                    // The store's record changed (an unfinished import).
                    session.send(ToEngine::ListModels);
                }
                session.set_busy(Busy::Idle);
                dom::set_progress("");
                dom::set_state("error");
                dom::show_error(&message);
            }
            FromEngine::Progress { message } if session.busy() == Busy::Visualizing => {
                self.visualizer.on_progress(&message)
            }
            FromEngine::Progress { message } => dom::set_progress(&message),
            FromEngine::Step {
                index,
                count,
                frames,
                ..
            } if session.busy() == Busy::Visualizing => {
                self.visualizer.on_step(index, count, &frames)
            }
            FromEngine::Step {
                index,
                count,
                t,
                ms,
                ..
            } => self.generator.show_step(index, count, t, ms),
            FromEngine::Generated {
                png,
                settings,
                total_ms,
                warnings,
            } => {
                session.set_busy(Busy::Idle);
                self.generator
                    .show_result(png, &settings, total_ms, &warnings);
            }
            FromEngine::Cancelled { steps } => {
                session.set_busy(Busy::Idle);
                dom::set_progress(&format!("Cancelled after {steps} steps."));
            }
            FromEngine::Models {
                models,
                stored_bytes,
            } => {
                if session.busy() == Busy::Managing {
                    session.set_busy(Busy::Idle);
                    dom::set_progress("");
                }
                if let Err(message) = models_panel::show_models(&models, stored_bytes) {
                    dom::show_error(&message);
                }
                self.visualizer.offer_models(&models);
            }
            FromEngine::FilesChecked(check) => {
                session.set_busy(Busy::Idle);
                dom::set_progress("");
                if let Err(message) = self.models.show_check(&check) {
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
                session.set_busy(Busy::Idle);
                models_panel::hide_import_progress();
                dom::set_progress(&format!(
                    "Imported {name}: every chunk stored and checked. Pick it under Model."
                ));
                if let Err(message) = models_panel::show_models(&models, stored_bytes) {
                    dom::show_error(&message);
                }
                self.visualizer.offer_models(&models);
            }
        }
    }
}
