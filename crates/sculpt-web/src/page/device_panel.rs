//! "About this device": the adapter and its key limits, and the diagnostics
//! (the engine self-test, a simulated GPU reset), out of a newcomer's way.

use std::{
    cell::{Cell, RefCell},
    rc::Rc,
};

use web_sys::{Event, HtmlButtonElement, HtmlCanvasElement, HtmlElement, HtmlInputElement};

use crate::{
    page::{
        dom::{self, document, element},
        session::{Busy, Session},
    },
    protocol::{Backend, PageMessage, ToEngine},
};

const MAX_PHASE: u32 = 1000;

pub struct DevicePanel {
    canvas: HtmlCanvasElement,
    /// What the engine runs on, as the self-test's result names it.
    adapter: RefCell<String>,
    frames_drawn: Cell<u32>,
}

impl DevicePanel {
    /// Wires the self-test form and the reset button; the self-test draws
    /// into `canvas`, the generator's.
    pub fn wire(session: &Rc<Session>, canvas: HtmlCanvasElement) -> Result<Self, String> {
        dom::listen("selftest", "submit", {
            let session = Rc::clone(session);
            move |event: Event| {
                event.prevent_default();
                let sent = read_phase().and_then(|phase| {
                    session.request(
                        Busy::SelfTest,
                        &PageMessage::Request(ToEngine::SelfTest { phase }),
                    )
                });
                if let Err(message) = sent {
                    dom::show_error(&message);
                }
            }
        })?;
        dom::listen("reset-gpu", "click", {
            let session = Rc::clone(session);
            move |_: Event| session.send(ToEngine::ResetGpu)
        })?;
        session.watch(|busy| {
            if let Ok(button) = element::<HtmlButtonElement>("draw") {
                button.set_disabled(busy != Busy::Idle);
            }
        });
        Ok(Self {
            canvas,
            adapter: RefCell::new(String::new()),
            frames_drawn: Cell::new(0),
        })
    }

    /// Fills the panel with the engine's (label, value) rows.
    pub fn show_device(&self, rows: &[(String, String)], backend: Backend) -> Result<(), String> {
        *self.adapter.borrow_mut() = match backend {
            Backend::Cpu => "the CPU".into(),
            Backend::Webgpu => rows
                .iter()
                .find(|(label, _)| label == "Adapter")
                .map(|(_, adapter)| adapter.clone())
                .unwrap_or_else(|| "the GPU".into()),
        };
        let list = element::<HtmlElement>("device-info")?;
        list.set_text_content(None);
        let document = document();
        for (label, value) in rows {
            let term = document
                .create_element("dt")
                .map_err(|_| "cannot create <dt>")?;
            term.set_text_content(Some(label));
            let detail = document
                .create_element("dd")
                .map_err(|_| "cannot create <dd>")?;
            detail.set_text_content(Some(value));
            list.append_child(&term)
                .map_err(|_| "cannot fill the device panel")?;
            list.append_child(&detail)
                .map_err(|_| "cannot fill the device panel")?;
        }
        Ok(())
    }

    /// The self-test frame for `phase` is on the canvas.
    pub fn show_self_test(&self, phase: u32, ms: f64) {
        let frames = self.frames_drawn.get() + 1;
        self.frames_drawn.set(frames);
        let _ = self.canvas.set_attribute("data-phase", &phase.to_string());
        let _ = self
            .canvas
            .set_attribute("data-frames", &frames.to_string());
        if let Ok(result) = element::<HtmlElement>("selftest-result") {
            result.set_text_content(Some(&format!(
                "Drew phase {phase} on {} in {ms:.1} ms.",
                self.adapter.borrow()
            )));
        }
    }
}

fn read_phase() -> Result<u32, String> {
    let input: HtmlInputElement = element("phase")?;
    let text = input.value();
    text.trim()
        .parse::<u32>()
        .ok()
        .filter(|phase| *phase <= MAX_PHASE)
        .ok_or_else(|| {
            format!("Pattern phase must be a whole number from 0 to {MAX_PHASE}, not \"{text}\".")
        })
}
