//! The History list under the canvas: every finished image, newest first,
//! shown from the store's record so that it is there on the next visit.

use js_sys::{Array, Uint8Array};
use wasm_bindgen::JsValue;
use web_sys::{Blob, BlobPropertyBag, Element, HtmlElement, Url};

use crate::{
    page::dom,
    store::history::{self, HISTORY_LIMIT, PastImage},
};

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
