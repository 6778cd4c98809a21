//! The generator's "Start from an image": image-to-image. The reader
//! chooses a file, drops one, or presses "Start from this" on an image of
//! the history; Strength is the noise level the image is noised to before
//! the first step (the visualizer's Noise level: 1 ignores the image).
//! "See it in the visualizer" hands the image and settings over.

use std::{cell::RefCell, rc::Rc};

use wasm_bindgen::JsCast;
use web_sys::{Blob, DragEvent, Element, Event, HtmlElement, HtmlInputElement, ImageBitmap};

use crate::{
    page::{dom, handoff::Handoff, start_image},
    protocol::RunImage,
};

/// The chosen start image: decoded (so that Generate reads it at once, at
/// whatever size), and an address for the preview and the visualizer.
struct Chosen {
    bitmap: ImageBitmap,
    url: String,
}

#[derive(Clone, Default)]
pub struct StartPicker {
    chosen: Rc<RefCell<Option<Chosen>>>,
}

impl StartPicker {
    pub fn wire() -> Result<Self, String> {
        let picker = StartPicker::default();
        let on = |id: &str, event: &str, action: fn(&StartPicker, Event)| {
            let picker = picker.clone();
            dom::listen(id, event, move |event| action(&picker, event))
        };
        on("start-file", "change", |picker, _| {
            let file = dom::element::<HtmlInputElement>("start-file")
                .ok()
                .and_then(|input| input.files())
                .and_then(|files| files.get(0));
            if let Some(file) = file {
                picker.choose(file.clone().into(), &file.name());
            }
        })?;
        on("start-image", "dragover", |_, event| {
            event.prevent_default()
        })?;
        on("start-image", "drop", |picker, event| {
            event.prevent_default();
            let file = event
                .dyn_ref::<DragEvent>()
                .and_then(|event| event.data_transfer())
                .and_then(|data| data.files())
                .and_then(|files| files.get(0));
            if let Some(file) = file {
                picker.choose(file.clone().into(), &file.name());
            }
        })?;
        on("start-clear", "click", |picker, _| picker.clear())?;
        on("strength", "input", |_, _| show_strength())?;
        on("start-visualize", "click", |picker, event| {
            event.prevent_default();
            picker.visualize();
        })?;
        on("history", "click", |picker, event| {
            let button = event
                .target()
                .and_then(|target| target.dyn_into::<Element>().ok())
                .and_then(|target| target.closest("button.start-from").ok().flatten());
            if let Some(url) = button.and_then(|button| button.get_attribute("data-url")) {
                let picker = picker.clone();
                wasm_bindgen_futures::spawn_local(async move {
                    match start_image::blob_at(&url).await {
                        Ok(blob) => picker.choose(blob, "an image of the history"),
                        Err(message) => dom::show_error(&message),
                    }
                });
            }
        })?;
        show_strength();
        Ok(picker)
    }

    /// Makes `blob` the start image (`name` says what it is, as text).
    fn choose(&self, blob: Blob, name: &str) {
        let picker = self.clone();
        let name = name.to_string();
        wasm_bindgen_futures::spawn_local(async move {
            match start_image::decode(&blob).await {
                Ok(bitmap) => picker.chosen(&blob, bitmap, &name),
                Err(message) => dom::show_error(&format!("The start image, {name}, is {message}.")),
            }
        });
    }

    fn chosen(&self, blob: &Blob, bitmap: ImageBitmap, name: &str) {
        let Ok(url) = web_sys::Url::create_object_url_with_blob(blob) else {
            return dom::show_error("cannot read the chosen image");
        };
        if let Some(old) = self.chosen.replace(Some(Chosen {
            bitmap,
            url: url.clone(),
        })) {
            old.bitmap.close();
            let _ = web_sys::Url::revoke_object_url(&old.url);
        }
        if let Ok(preview) = dom::element::<HtmlElement>("start-preview") {
            let _ = preview.set_attribute("src", &url);
            let _ = preview.set_attribute("alt", &format!("Start image: {name}"));
            preview.set_hidden(false);
        }
        for id in ["start-clear", "start-visualize"] {
            if let Ok(element) = dom::element::<HtmlElement>(id) {
                element.set_hidden(false);
            }
        }
        if let Ok(name_text) = dom::element::<HtmlElement>("start-name") {
            name_text.set_text_content(Some(name));
        }
        dom::clear_error();
    }

    fn clear(&self) {
        if let Some(old) = self.chosen.take() {
            old.bitmap.close();
            let _ = web_sys::Url::revoke_object_url(&old.url);
        }
        for id in ["start-preview", "start-clear", "start-visualize"] {
            if let Ok(element) = dom::element::<HtmlElement>(id) {
                element.set_hidden(true);
            }
        }
        if let Ok(name_text) = dom::element::<HtmlElement>("start-name") {
            name_text.set_text_content(Some("none: the image is drawn from noise"));
        }
        if let Ok(input) = dom::element::<HtmlInputElement>("start-file") {
            input.set_value("");
        }
    }

    /// The start image at `width` × `height` and its noise level, if one
    /// is chosen.
    pub fn read(&self, width: usize, height: usize) -> Result<Option<(RunImage, f64)>, String> {
        let chosen = self.chosen.borrow();
        let Some(chosen) = chosen.as_ref() else {
            return Ok(None);
        };
        let rgba = start_image::pixels_of(&chosen.bitmap, width, height)
            .map_err(|_| "the start image cannot be drawn at this size")?;
        Ok(Some((
            RunImage {
                width,
                height,
                rgba,
            },
            strength(),
        )))
    }

    /// Hands the start image and the form's settings to the visualizer.
    fn visualize(&self) {
        let Some(url) = self
            .chosen
            .borrow()
            .as_ref()
            .map(|chosen| chosen.url.clone())
        else {
            return;
        };
        let value = |id: &str| {
            dom::element::<HtmlInputElement>(id)
                .map(|input| input.value())
                .unwrap_or_default()
        };
        Handoff {
            url,
            prompt: dom::element::<web_sys::HtmlTextAreaElement>("prompt")
                .map(|prompt| prompt.value())
                .unwrap_or_default(),
            seed: value("seed").trim().parse().ok(),
            t: Some(strength()),
            steps: value("steps").trim().parse().ok(),
        }
        .send();
    }
}

fn strength() -> f64 {
    dom::element::<HtmlInputElement>("strength")
        .map(|slider| slider.value_as_number())
        .ok()
        .filter(|t| (0.0..=1.0).contains(t))
        .unwrap_or(1.0)
}

fn show_strength() {
    if let Ok(value) = dom::element::<HtmlElement>("strength-value") {
        value.set_text_content(Some(&format!("{:.2}", strength())));
    }
}
