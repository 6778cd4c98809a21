//! The Generate surface: the settings form (with an optional start image,
//! [`StartPicker`]), Generate and Cancel, each step as the engine draws it
//! into the canvas, and the finished image (offered for download and added
//! to the history).

use std::rc::Rc;

use wasm_bindgen::JsCast;
use web_sys::{
    Event, HtmlAnchorElement, HtmlButtonElement, HtmlCanvasElement, HtmlInputElement,
    HtmlSelectElement, HtmlTextAreaElement,
};

use crate::{
    page::{
        dom, history, seed,
        session::{Busy, Session},
        start_picker::StartPicker,
    },
    protocol::{GenerateSettings, PageMessage, Preview, ShowLatent, ToEngine},
    store::history::PastImage,
};

const MAX_STEPS: usize = 100;

pub struct Generator {
    canvas: HtmlCanvasElement,
}

impl Generator {
    /// Wires the form: Generate asks `session` for an image, Cancel and the
    /// x_t / x0 choice act during a generation.
    pub fn wire(session: &Rc<Session>, canvas: HtmlCanvasElement) -> Result<Self, String> {
        let start = StartPicker::wire()?;
        dom::listen("generate", "submit", {
            let session = Rc::clone(session);
            let canvas = canvas.clone();
            move |event: Event| {
                // The form is handled here, not by the browser's navigation.
                event.prevent_default();
                // Settings are read (and a new seed drawn) only when the
                // engine can take them.
                let sent = session
                    .ready()
                    .and_then(|()| read_settings())
                    .and_then(|settings| with_start_image(settings, &start))
                    .and_then(|settings| {
                        session.request(
                            Busy::Generating,
                            &PageMessage::Request(ToEngine::Generate(settings)),
                        )
                    });
                match sent {
                    Ok(()) => {
                        dom::set_progress("Starting…");
                        let _ = canvas.set_attribute("data-steps", "0");
                    }
                    Err(message) => {
                        if session.busy() == Busy::Idle {
                            dom::set_state("error");
                        }
                        dom::show_error(&message);
                    }
                }
            }
        })?;
        dom::listen("cancel", "click", {
            let session = Rc::clone(session);
            move |_: Event| {
                session.send(ToEngine::Cancel);
                dom::set_progress("Cancelling after this step…");
            }
        })?;
        for id in ["show-current", "show-predicted-clean"] {
            let session = Rc::clone(session);
            dom::listen(id, "change", move |_: Event| {
                session.send(ToEngine::Show { show: read_show() })
            })?;
        }
        seed::wire()?;
        session.watch(|busy| {
            if let Ok(button) = dom::element::<HtmlButtonElement>("generate-button") {
                button.set_disabled(busy != Busy::Idle);
            }
            if let Ok(cancel) = dom::element::<HtmlButtonElement>("cancel") {
                cancel.set_disabled(busy != Busy::Generating);
            }
        });
        Ok(Self { canvas })
    }

    pub fn show_step(&self, index: usize, count: usize, t: f64, ms: f64) {
        let _ = self
            .canvas
            .set_attribute("data-steps", &(index + 1).to_string());
        dom::set_progress(&format!(
            "Step {} of {count} (t = {t:.2}) · {ms:.0} ms",
            index + 1
        ));
    }

    pub fn show_result(
        &self,
        png: Vec<u8>,
        settings: &GenerateSettings,
        total_ms: f64,
        warnings: &[String],
    ) {
        let mut text = format!(
            "Done: {} steps in {:.1} s (seed {}).",
            settings.steps,
            total_ms / 1000.0,
            settings.seed
        );
        for warning in warnings {
            text.push(' ');
            text.push_str(warning);
        }
        dom::set_progress(&text);
        match history::png_url(&png) {
            Ok(url) => {
                if let Ok(link) = dom::element::<HtmlAnchorElement>("download") {
                    link.set_href(&url);
                    link.set_download(&format!("sculpt-{}.png", settings.seed));
                    link.set_hidden(false);
                }
                let image = PastImage {
                    png,
                    prompt: settings.prompt.clone(),
                    seed: settings.seed,
                    steps: settings.steps as u32,
                    created: js_sys::Date::now(),
                };
                history::add(image, &url);
            }
            Err(message) => dom::show_error(&message),
        }
    }
}

/// `settings` starting from the chosen start image at their size, if any.
fn with_start_image(
    mut settings: GenerateSettings,
    start: &StartPicker,
) -> Result<GenerateSettings, String> {
    if let Some((image, t)) = start.read(settings.width, settings.height)? {
        settings.image = Some(image);
        settings.t = Some(t);
    }
    Ok(settings)
}

/// The settings in the form, checked.
fn read_settings() -> Result<GenerateSettings, String> {
    let prompt = dom::element::<HtmlTextAreaElement>("prompt")?.value();
    if prompt.trim().is_empty() {
        return Err("Type a prompt first: it says what to draw.".into());
    }
    let model = dom::element::<HtmlSelectElement>("model")?.value();
    let size: usize = dom::element::<HtmlSelectElement>("size")?
        .value()
        .parse()
        .map_err(|_| "the size list has an entry that is not a number")?;
    let steps_text = dom::element::<HtmlInputElement>("steps")?.value();
    let steps = steps_text
        .trim()
        .parse::<usize>()
        .ok()
        .filter(|steps| (1..=MAX_STEPS).contains(steps))
        .ok_or_else(|| {
            format!("Steps must be a whole number from 1 to {MAX_STEPS}, not \"{steps_text}\".")
        })?;
    let seed = seed::next()?;
    Ok(GenerateSettings {
        model,
        prompt,
        width: size,
        height: size,
        steps,
        seed,
        show: read_show(),
        image: None,
        t: None,
        preview: read_preview(),
    })
}

/// Steps drawn fast by the preview decoder unless every one is asked for in
/// full.
fn read_preview() -> Preview {
    let full = dom::element::<HtmlInputElement>("full-frames").is_ok_and(|input| input.checked());
    if full { Preview::Full } else { Preview::Fast }
}

fn read_show() -> ShowLatent {
    let checked = dom::document()
        .query_selector("input[name=show]:checked")
        .ok()
        .flatten()
        .and_then(|input| input.dyn_into::<HtmlInputElement>().ok())
        .map(|input| input.value());
    match checked.as_deref() {
        Some("predicted_clean") => ShowLatent::PredictedClean,
        _ => ShowLatent::Current,
    }
}
