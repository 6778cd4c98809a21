//! "See it in the visualizer": one surface hands an image and its settings
//! to the visualizer as a `sculpt-visualize` event on the window, so the
//! surfaces stay unaware of each other (the generator's start image, an
//! image of the history). The image travels as an object URL of its bytes.

use js_sys::{Object, Reflect};
use wasm_bindgen::{JsCast, JsValue, closure::Closure};
use web_sys::{CustomEvent, CustomEventInit, Event};

const EVENT: &str = "sculpt-visualize";

/// An image, and the settings to look at it with.
#[derive(Clone, Debug, Default)]
pub struct Handoff {
    /// An object URL (or any address the page may fetch) of the image.
    pub url: String,
    pub prompt: String,
    pub seed: Option<u32>,
    /// The noise level to start from.
    pub t: Option<f64>,
    pub steps: Option<usize>,
}

impl Handoff {
    /// Hands the image to whoever listens (the visualizer).
    pub fn send(&self) {
        let detail = Object::new();
        let set = |key: &str, value: JsValue| {
            let _ = Reflect::set(&detail, &key.into(), &value);
        };
        set("url", self.url.as_str().into());
        set("prompt", self.prompt.as_str().into());
        if let Some(seed) = self.seed {
            set("seed", f64::from(seed).into());
        }
        if let Some(t) = self.t {
            set("t", t.into());
        }
        if let Some(steps) = self.steps {
            set("steps", (steps as f64).into());
        }
        let init = CustomEventInit::new();
        init.set_detail(&detail);
        if let (Some(window), Ok(event)) = (
            web_sys::window(),
            CustomEvent::new_with_event_init_dict(EVENT, &init),
        ) {
            let _ = window.dispatch_event(&event);
        }
    }

    /// Calls `receive` with every image handed over; lives as long as the
    /// page.
    pub fn listen(receive: impl Fn(Handoff) + 'static) -> Result<(), String> {
        let window = web_sys::window().ok_or("no window")?;
        let listener = Closure::<dyn FnMut(Event)>::new(move |event: Event| {
            let Some(detail) = event.dyn_ref::<CustomEvent>().map(CustomEvent::detail) else {
                return;
            };
            let get = |key: &str| Reflect::get(&detail, &key.into()).ok();
            let number = |key: &str| get(key).and_then(|value| value.as_f64());
            let Some(url) = get("url").and_then(|url| url.as_string()) else {
                return;
            };
            receive(Handoff {
                url,
                prompt: get("prompt")
                    .and_then(|prompt| prompt.as_string())
                    .unwrap_or_default(),
                seed: number("seed").map(|seed| seed as u32),
                t: number("t"),
                steps: number("steps").map(|steps| steps as usize),
            });
        });
        window
            .add_event_listener_with_callback(EVENT, listener.as_ref().unchecked_ref())
            .map_err(|_| "cannot listen for images handed to the visualizer")?;
        listener.forget();
        Ok(())
    }
}
