//! The History list under the canvas: every finished image, newest first,
//! shown from the store's record so that it is there on the next visit.

use js_sys::{Array, Uint8Array};
use wasm_bindgen::JsValue;
use web_sys::{Blob, BlobPropertyBag, Element, HtmlElement, Url};

use crate::{
    page::{dom, handoff::Handoff},
    store::history::{self, HISTORY_LIMIT, PastImage},
};

/// "Visualize" on an image of the list hands it to the visualizer.
pub fn wire() -> Result<(), String> {
    dom::listen("history", "click", |event: web_sys::Event| {
        let button = event
            .target()
            .and_then(|target| wasm_bindgen::JsCast::dyn_into::<Element>(target).ok())
            .and_then(|target| target.closest("button.visualize-this").ok().flatten());
        let Some(button) = button else {
            return;
        };
        let Some(url) = button.get_attribute("data-url") else {
            return;
        };
        Handoff {
            url,
            prompt: button.get_attribute("data-prompt").unwrap_or_default(),
            seed: button
                .get_attribute("data-seed")
                .and_then(|seed| seed.parse().ok()),
            t: None,
            steps: None,
        }
        .send();
    })
}

/// Shows the images kept from earlier visits.
pub fn show_kept() {
    wasm_bindgen_futures::spawn_local(async {
        match history::kept().await {
            // Oldest first, each shown first in turn: the newest ends on top.
            Ok(images) => {
                for image in images {
                    if let Ok(url) = png_url(&image.png) {
                        show(&image, &url);
                    }
                }
            }
            Err(message) => web_sys::console::warn_1(&message.into()),
        }
    });
}

/// Shows a new image first in the list (`url` is its PNG's) and keeps it.
pub fn add(image: PastImage, url: &str) {
    show(&image, url);
    wasm_bindgen_futures::spawn_local(async move {
        if let Err(message) = history::keep(&image).await {
            dom::show_error(&format!(
                "The image could not be kept in the history: {message}"
            ));
        }
    });
}

/// An address for a PNG's bytes (for an `<img>` or a download link).
pub fn png_url(png: &[u8]) -> Result<String, String> {
    let parts = Array::of1(&Uint8Array::from(png));
    let options = BlobPropertyBag::new();
    options.set_type("image/png");
    let blob = Blob::new_with_u8_array_sequence_and_options(&parts, &options)
        .map_err(|_| "cannot wrap the image for download")?;
    Url::create_object_url_with_blob(&blob)
        .map_err(|_| "cannot offer the image for download".into())
}

fn show(image: &PastImage, url: &str) {
    let document = dom::document();
    let Ok(list) = dom::element::<HtmlElement>("history") else {
        return;
    };
    // The prompt is the user's text: set as text and attribute values, never as HTML.
    let build = || -> Result<Element, JsValue> {
        let item = document.create_element("li")?;
        let figure = document.create_element("figure")?;
        let picture = document.create_element("img")?;
        picture.set_attribute("src", url)?;
        picture.set_attribute(
            "alt",
            &format!(
                "{} (seed {}, {} steps)",
                image.prompt, image.seed, image.steps
            ),
        )?;
        let caption = document.create_element("figcaption")?;
        caption.set_text_content(Some(&format!("{} · seed {}", image.prompt, image.seed)));
        figure.append_child(&picture)?;
        figure.append_child(&caption)?;
        item.append_child(&figure)?;
        // What to do with it: the generator and the visualizer act on these
        // (by the class), finding the image by its URL.
        for (class, text) in [
            ("start-from", "Start from this"),
            ("visualize-this", "Visualize"),
        ] {
            let button = document.create_element("button")?;
            button.set_attribute("type", "button")?;
            button.set_attribute("class", class)?;
            button.set_attribute("data-url", url)?;
            button.set_attribute("data-prompt", &image.prompt)?;
            button.set_attribute("data-seed", &image.seed.to_string())?;
            button.set_text_content(Some(text));
            item.append_child(&button)?;
        }
        Ok(item)
    };
    if let Ok(item) = build() {
        let _ = list.insert_before(&item, list.first_child().as_ref());
        while list.child_element_count() as usize > HISTORY_LIMIT {
            if let Some(last) = list.last_element_child() {
                last.remove();
            }
        }
    }
}
