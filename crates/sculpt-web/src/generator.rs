//! The generator's controls and results: reading the settings, showing each
//! step and the finished image, and the history of past images (kept in
//! IndexedDB, so it is there on the next visit).

use std::rc::Rc;

use idb::{Database, Factory, KeyPath, ObjectStoreParams, TransactionMode};
use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue, closure::Closure};
use web_sys::{
    Blob, BlobPropertyBag, Event, HtmlAnchorElement, HtmlButtonElement, HtmlCanvasElement,
    HtmlElement, HtmlInputElement, HtmlSelectElement, HtmlTextAreaElement, Url,
};

use crate::{
    app::Page,
    dom,
    protocol::{GenerateSettings, ShowLatent, ToEngine},
};

const MAX_STEPS: usize = 100;
const HISTORY_DB: &str = "sculpt-history";
const HISTORY_STORE: &str = "images";
/// Past images kept; older ones are dropped.
const HISTORY_LIMIT: usize = 48;

/// The settings in the form, checked; a new random seed unless the user
/// keeps the one shown.
pub fn read_settings() -> Result<GenerateSettings, String> {
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
    let seed_input = dom::element::<HtmlInputElement>("seed")?;
    let keep_seed = dom::element::<HtmlInputElement>("keep-seed")?.checked();
    let seed = if keep_seed {
        let text = seed_input.value();
        text.trim().parse::<u32>().map_err(|_| {
            format!(
                "Seed must be a whole number from 0 to {}, not \"{text}\".",
                u32::MAX
            )
        })?
    } else {
        let seed = (js_sys::Math::random() * 4_294_967_296.0) as u32;
        seed_input.set_value(&seed.to_string());
        seed
    };
    Ok(GenerateSettings {
        model,
        prompt,
        width: size,
        height: size,
        steps,
        seed,
        show: read_show(),
    })
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

/// Cancel, and the x_t / x0 choice, act during a generation.
pub fn wire_controls(page: &Rc<Page>) -> Result<(), String> {
    let cancel: HtmlButtonElement = dom::element("cancel")?;
    let on_cancel = {
        let page = Rc::clone(page);
        Closure::<dyn FnMut(Event)>::new(move |_: Event| {
            if let Err(message) = page.send(&ToEngine::Cancel) {
                dom::show_error(&message);
            }
            show_progress("Cancelling after this step…");
        })
    };
    cancel
        .add_event_listener_with_callback("click", on_cancel.as_ref().unchecked_ref())
        .map_err(|_| "cannot listen to the cancel button")?;
    on_cancel.forget();

    let on_show = {
        let page = Rc::clone(page);
        Closure::<dyn FnMut(Event)>::new(move |_: Event| {
            if let Err(message) = page.send(&ToEngine::Show { show: read_show() }) {
                dom::show_error(&message);
            }
        })
    };
    let radios = dom::document()
        .query_selector_all("input[name=show]")
        .map_err(|_| "cannot find the show choices")?;
    for index in 0..radios.length() {
        if let Some(radio) = radios.item(index) {
            radio
                .add_event_listener_with_callback("change", on_show.as_ref().unchecked_ref())
                .map_err(|_| "cannot listen to the show choices")?;
        }
    }
    on_show.forget();
    Ok(())
}

pub fn show_progress(text: &str) {
    if let Ok(progress) = dom::element::<HtmlElement>("progress") {
        progress.set_text_content(Some(text));
    }
}

pub fn show_step(canvas: &HtmlCanvasElement, index: usize, count: usize, t: f64, ms: f64) {
    let _ = canvas.set_attribute("data-steps", &(index + 1).to_string());
    show_progress(&format!(
        "Step {} of {count} (t = {t:.2}) · {ms:.0} ms",
        index + 1
    ));
}

pub fn show_result(
    history: &History,
    png: &[u8],
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
    show_progress(&text);
    match png_url(png) {
        Ok(url) => {
            if let Ok(link) = dom::element::<HtmlAnchorElement>("download") {
                link.set_href(&url);
                link.set_download(&format!("sculpt-{}.png", settings.seed));
                link.set_hidden(false);
            }
            history.add(png, settings, &url);
        }
        Err(message) => dom::show_error(&message),
    }
}

fn png_url(png: &[u8]) -> Result<String, String> {
    let parts = Array::of1(&Uint8Array::from(png));
    let options = BlobPropertyBag::new();
    options.set_type("image/png");
    let blob = Blob::new_with_u8_array_sequence_and_options(&parts, &options)
        .map_err(|_| "cannot wrap the image for download")?;
    Url::create_object_url_with_blob(&blob)
        .map_err(|_| "cannot offer the image for download".into())
}

/// Past images: shown in the page, kept in IndexedDB.
pub struct History;

impl History {
    pub fn new() -> Self {
        Self
    }

    /// Shows the images kept from earlier visits, newest first.
    pub fn show_stored(&self) {
        wasm_bindgen_futures::spawn_local(async {
            match stored_entries().await {
                Ok(entries) => {
                    for entry in entries {
                        show_entry(&entry);
                    }
                }
                Err(message) => web_sys::console::warn_1(&message.into()),
            }
        });
    }

    /// Shows a new image first in the list and keeps it.
    pub fn add(&self, png: &[u8], settings: &GenerateSettings, url: &str) {
        let entry = Entry {
            png: png.to_vec(),
            prompt: settings.prompt.clone(),
            seed: settings.seed,
            steps: settings.steps,
            url: url.to_string(),
        };
        show_entry(&entry);
        wasm_bindgen_futures::spawn_local(async move {
            if let Err(message) = store_entry(&entry).await {
                dom::show_error(&format!(
                    "The image could not be kept in the history: {message}"
                ));
            }
        });
    }
}

struct Entry {
    png: Vec<u8>,
    prompt: String,
    seed: u32,
    steps: usize,
    url: String,
}

fn show_entry(entry: &Entry) {
    let document = dom::document();
    let Ok(list) = dom::element::<HtmlElement>("history") else {
        return;
    };
    let build = || -> Result<web_sys::Element, JsValue> {
        let item = document.create_element("li")?;
        let figure = document.create_element("figure")?;
        let image = document.create_element("img")?;
        image.set_attribute("src", &entry.url)?;
        image.set_attribute(
            "alt",
            &format!(
                "{} (seed {}, {} steps)",
                entry.prompt, entry.seed, entry.steps
            ),
        )?;
        let caption = document.create_element("figcaption")?;
        caption.set_text_content(Some(&format!("{} · seed {}", entry.prompt, entry.seed)));
        figure.append_child(&image)?;
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

async fn open_history() -> Result<Database, String> {
    let factory = Factory::new().map_err(|e| e.to_string())?;
    let mut request = factory
        .open(HISTORY_DB, Some(1))
        .map_err(|e| e.to_string())?;
    request.on_upgrade_needed(|event| {
        use idb::DatabaseEvent;
        if let Ok(database) = event.database() {
            let mut params = ObjectStoreParams::new();
            params.auto_increment(true);
            params.key_path(Some(KeyPath::new_single("id")));
            let _ = database.create_object_store(HISTORY_STORE, params);
        }
    });
    request.await.map_err(|e| e.to_string())
}

async fn store_entry(entry: &Entry) -> Result<(), String> {
    let database = open_history().await?;
    let record = Object::new();
    let set = |key: &str, value: JsValue| Reflect::set(&record, &key.into(), &value);
    set("png", Uint8Array::from(entry.png.as_slice()).into())
        .and_then(|_| set("prompt", entry.prompt.as_str().into()))
        .and_then(|_| set("seed", entry.seed.into()))
        .and_then(|_| set("steps", (entry.steps as u32).into()))
        .and_then(|_| set("created", js_sys::Date::now().into()))
        .map_err(|_| "cannot build the history record")?;
    let transaction = database
        .transaction(&[HISTORY_STORE], TransactionMode::ReadWrite)
        .map_err(|e| e.to_string())?;
    let store = transaction
        .object_store(HISTORY_STORE)
        .map_err(|e| e.to_string())?;
    store
        .add(&record, None)
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())?;
    // Keep the newest HISTORY_LIMIT: keys grow, so the oldest come first.
    let keys = store
        .get_all_keys(None, None)
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())?;
    for key in keys.iter().take(keys.len().saturating_sub(HISTORY_LIMIT)) {
        store.delete(key.clone()).map_err(|e| e.to_string())?;
    }
    transaction
        .commit()
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// Stored images, oldest first (each shown first in turn, so the newest ends on top).
async fn stored_entries() -> Result<Vec<Entry>, String> {
    let database = open_history().await?;
    let transaction = database
        .transaction(&[HISTORY_STORE], TransactionMode::ReadOnly)
        .map_err(|e| e.to_string())?;
    let values = transaction
        .object_store(HISTORY_STORE)
        .map_err(|e| e.to_string())?
        .get_all(None, None)
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())?;
    let field = |value: &JsValue, key: &str| Reflect::get(value, &key.into()).ok();
    let mut entries = Vec::new();
    for value in values {
        let png = field(&value, "png")
            .and_then(|png| png.dyn_into::<Uint8Array>().ok())
            .map(|png| png.to_vec());
        let (Some(png), Some(prompt)) = (png, field(&value, "prompt").and_then(|p| p.as_string()))
        else {
            continue;
        };
        let number = |key: &str| field(&value, key).and_then(|n| n.as_f64()).unwrap_or(0.0);
        let url = png_url(&png)?;
        entries.push(Entry {
            png,
            prompt,
            seed: number("seed") as u32,
            steps: number("steps") as usize,
            url,
        });
    }
    Ok(entries)
}
