//! The Models section: choose or drop FLUX files, see what they are and
//! whether this device can run them (before anything is stored), import
//! them with a progress bar, and list, check and delete imported models,
//! with the browser's storage use and quota.

use std::{
    cell::{Cell, RefCell},
    rc::Rc,
};

use js_sys::{Array, Reflect};
use sculpt_flux::checkpoint::human_bytes;
use wasm_bindgen::{JsCast, JsValue, closure::Closure};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    DragEvent, Element, Event, File, FileList, HtmlButtonElement, HtmlElement, HtmlInputElement,
    HtmlProgressElement, HtmlSelectElement,
};

use crate::{
    app::Page,
    dom,
    protocol::{ImportCheck, StoredModel, ToEngine},
};

/// The files the user chose (or the addresses given), kept until they are
/// imported or replaced.
#[derive(Default)]
pub struct ChosenFiles {
    files: RefCell<Vec<File>>,
    urls: RefCell<Vec<String>>,
    /// Whether the engine found them a model this device can run.
    importable: Cell<bool>,
}

impl ChosenFiles {
    pub fn importable(&self) -> bool {
        self.importable.get()
    }

    pub fn set_importable(&self, importable: bool) {
        self.importable.set(importable);
    }

    /// The message that sends them to the engine as `kind` ("check_files"
    /// or "import"; see [`crate::protocol`]).
    pub fn message(&self, kind: &str, name: Option<&str>) -> Result<JsValue, String> {
        let message = js_sys::Object::new();
        let files: Array = self.files.borrow().iter().collect();
        let urls: Array = self
            .urls
            .borrow()
            .iter()
            .map(|url| JsValue::from_str(url))
            .collect();
        let set = |key: &str, value: &JsValue| Reflect::set(&message, &key.into(), value);
        set("type", &kind.into())
            .and_then(|_| set("files", &files))
            .and_then(|_| set("urls", &urls))
            .and_then(|_| match name {
                Some(name) => set("name", &name.into()),
                None => Ok(true),
            })
            .map_err(|_| "cannot build the message for the engine")?;
        Ok(message.into())
    }

    /// Replaces the choice with local files.
    pub fn choose_files(&self, files: Vec<File>) {
        *self.files.borrow_mut() = files;
        self.urls.borrow_mut().clear();
    }

    /// Replaces the choice with web addresses.
    pub fn choose_urls(&self, urls: Vec<String>) {
        self.files.borrow_mut().clear();
        *self.urls.borrow_mut() = urls;
    }

    pub fn is_empty(&self) -> bool {
        self.files.borrow().is_empty() && self.urls.borrow().is_empty()
    }
}

pub fn wire(page: &Rc<Page>) -> Result<(), String> {
    let input: HtmlInputElement = dom::element("import-files")?;
    let on_change = {
        let page = Rc::clone(page);
        let input = input.clone();
        Closure::<dyn FnMut(Event)>::new(move |_: Event| {
            if let Some(list) = input.files() {
                page.chosen.choose_files(files_of(&list));
                page.files_chosen();
            }
        })
    };
    input
        .add_event_listener_with_callback("change", on_change.as_ref().unchecked_ref())
        .map_err(|_| "cannot listen to the file chooser")?;
    on_change.forget();

    let zone: HtmlElement = dom::element("drop-zone")?;
    let on_drag_over = Closure::<dyn FnMut(DragEvent)>::new(move |event: DragEvent| {
        // Without this the browser opens a dropped file instead.
        event.prevent_default();
    });
    zone.add_event_listener_with_callback("dragover", on_drag_over.as_ref().unchecked_ref())
        .map_err(|_| "cannot listen to the drop zone")?;
    on_drag_over.forget();
    let on_drop = {
        let page = Rc::clone(page);
        Closure::<dyn FnMut(DragEvent)>::new(move |event: DragEvent| {
            event.prevent_default();
            if let Some(list) = event.data_transfer().and_then(|data| data.files()) {
                page.chosen.choose_files(files_of(&list));
                page.files_chosen();
            }
        })
    };
    zone.add_event_listener_with_callback("drop", on_drop.as_ref().unchecked_ref())
        .map_err(|_| "cannot listen to the drop zone")?;
    on_drop.forget();

    let check_urls: HtmlButtonElement = dom::element("check-urls")?;
    let on_check_urls = {
        let page = Rc::clone(page);
        Closure::<dyn FnMut(Event)>::new(move |_: Event| {
            let text = dom::element::<web_sys::HtmlTextAreaElement>("import-urls")
                .map(|area| area.value())
                .unwrap_or_default();
            let urls: Vec<String> = text
                .lines()
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .map(String::from)
                .collect();
            if urls.is_empty() {
                dom::show_error("Give the addresses of the model's files, one per line.");
                return;
            }
            page.chosen.choose_urls(urls);
            page.files_chosen();
        })
    };
    check_urls
        .add_event_listener_with_callback("click", on_check_urls.as_ref().unchecked_ref())
        .map_err(|_| "cannot listen to the address button")?;
    on_check_urls.forget();

    // One listener for every model's buttons, present and future.
    let list: HtmlElement = dom::element("stored-models")?;
    let on_click = {
        let page = Rc::clone(page);
        Closure::<dyn FnMut(Event)>::new(move |event: Event| {
            let Some(button) = event
                .target()
                .and_then(|target| target.dyn_into::<HtmlButtonElement>().ok())
            else {
                return;
            };
            let (Some(action), Some(name)) = (
                button.get_attribute("data-action"),
                button.get_attribute("data-model"),
            ) else {
                return;
            };
            match action.as_str() {
                "verify" => page.model_action(ToEngine::VerifyModel { name }),
                // Deleting gigabytes takes a second press.
                "delete" if button.get_attribute("data-confirm").is_none() => {
                    let _ = button.set_attribute("data-confirm", "");
                    button.set_text_content(Some(&format!("Really delete {name}?")));
                }
                "delete" => page.model_action(ToEngine::DeleteModel { name }),
                _ => {}
            }
        })
    };
    list.add_event_listener_with_callback("click", on_click.as_ref().unchecked_ref())
        .map_err(|_| "cannot listen to the model list")?;
    on_click.forget();
    Ok(())
}

fn files_of(list: &FileList) -> Vec<File> {
    (0..list.length()).filter_map(|i| list.item(i)).collect()
}

/// Shows what `check_files` found and enables Import when it can run here.
pub fn show_check(check: &ImportCheck) -> Result<(), String> {
    let panel: HtmlElement = dom::element("import-check")?;
    panel.set_text_content(None);
    let document = dom::document();
    let add = |parent: &Element, tag: &str, text: &str| -> Result<Element, String> {
        let element = document
            .create_element(tag)
            .map_err(|_| format!("cannot create <{tag}>"))?;
        element.set_text_content(Some(text));
        parent
            .append_child(&element)
            .map_err(|_| "cannot fill the import panel")?;
        Ok(element)
    };
    add(
        &panel,
        "p",
        &format!(
            "{}: {} to store.",
            check.name,
            human_bytes(check.bytes).trim()
        ),
    )?;
    let parts = add(&panel, "ul", "")?;
    let _ = parts.set_attribute("id", "import-parts");
    for part in &check.parts {
        add(
            &parts,
            "li",
            &format!(
                "{}: {} ({}; {})",
                part.what,
                part.files.join(", "),
                human_bytes(part.bytes).trim(),
                part.detail
            ),
        )?;
    }
    if !check.ignored.is_empty() {
        add(
            &panel,
            "p",
            &format!("Left out: {}.", check.ignored.join(", ")),
        )?;
    }
    let plan = &check.plan;
    add(
        &panel,
        "p",
        &format!(
            "Memory plan for {}×{} on this device:",
            plan.width, plan.height
        ),
    )?;
    let rows = add(&panel, "dl", "")?;
    let _ = rows.set_attribute("id", "import-plan");
    for (label, value) in &plan.rows {
        add(&rows, "dt", label)?;
        add(&rows, "dd", value)?;
    }
    if let Some(note) = &plan.note {
        add(&panel, "p", note)?;
    }
    let verdict = if check.importable {
        "It fits: import it to keep it in this browser.".to_string()
    } else {
        format!(
            "This device cannot run it, so it will not be stored: {}",
            plan.problems.join("; ")
        )
    };
    let verdict = add(&panel, "p", &verdict)?;
    let _ = verdict.set_attribute("id", "import-verdict");
    panel.set_hidden(false);
    let name: HtmlInputElement = dom::element("import-name")?;
    if name.value().trim().is_empty() {
        name.set_value(&check.name);
    }
    Ok(())
}

pub fn set_import_enabled(enabled: bool) {
    if let Ok(button) = dom::element::<HtmlButtonElement>("import-button") {
        button.set_disabled(!enabled);
    }
}

pub fn show_import_progress(phase: &str, file: &str, done: u64, total: u64) {
    if let Ok(bar) = dom::element::<HtmlProgressElement>("import-progress") {
        bar.set_hidden(false);
        bar.set_max(total.max(1) as f64);
        bar.set_value(done as f64);
    }
    let verb = match phase {
        "resuming" => "Comparing with the earlier import",
        "verifying" => "Checking what was stored",
        _ => "Storing",
    };
    crate::generator::show_progress(&format!(
        "{verb}: {} of {} ({file})",
        human_bytes(done).trim(),
        human_bytes(total).trim()
    ));
}

pub fn hide_import_progress() {
    if let Ok(bar) = dom::element::<HtmlProgressElement>("import-progress") {
        bar.set_hidden(true);
    }
}

/// Lists the imported models (with their buttons) and offers the verified
/// ones in the model picker.
pub fn show_models(models: &[StoredModel], stored_bytes: u64) -> Result<(), String> {
    let list: HtmlElement = dom::element("stored-models")?;
    list.set_text_content(None);
    let document = dom::document();
    let create = |tag: &str| {
        document
            .create_element(tag)
            .map_err(|_| format!("cannot create <{tag}>"))
    };
    for model in models {
        let item = create("li")?;
        let _ = item.set_attribute("data-model", &model.name);
        let _ = item.set_attribute("data-state", &model.state);
        let mut text = format!(
            "{} — {} — {}",
            model.name,
            human_bytes(model.bytes).trim(),
            model.state
        );
        if let Some(problem) = &model.problem {
            text.push_str(&format!(": {problem}"));
        }
        let label = create("span")?;
        label.set_text_content(Some(&text));
        let _ = item.append_child(&label);
        for (action, caption) in [("verify", "Check"), ("delete", "Delete")] {
            let button = create("button")?;
            let _ = button.set_attribute("type", "button");
            let _ = button.set_attribute("data-action", action);
            let _ = button.set_attribute("data-model", &model.name);
            let _ = button.set_attribute("aria-label", &format!("{caption} {}", model.name));
            button.set_text_content(Some(caption));
            let _ = item.append_child(&button);
        }
        let _ = list.append_child(&item);
    }
    if models.is_empty() {
        let item = create("li")?;
        item.set_text_content(Some("No imported models yet."));
        let _ = list.append_child(&item);
    }
    offer_in_picker(models)?;
    show_storage(stored_bytes);
    Ok(())
}

/// The picker's imported entries are replaced by the verified models.
fn offer_in_picker(models: &[StoredModel]) -> Result<(), String> {
    let select: HtmlSelectElement = dom::element("model")?;
    let chosen = select.value();
    let stale = select
        .query_selector_all("option[data-imported]")
        .map_err(|_| "cannot read the model picker")?;
    for index in 0..stale.length() {
        if let Some(option) = stale
            .item(index)
            .and_then(|node| node.dyn_into::<Element>().ok())
        {
            option.remove();
        }
    }
    let document = dom::document();
    for model in models.iter().filter(|model| model.state == "verified") {
        let option = document
            .create_element("option")
            .map_err(|_| "cannot create <option>")?;
        let _ = option.set_attribute("value", &model.name);
        let _ = option.set_attribute("data-imported", "");
        option.set_text_content(Some(&format!("{} (imported)", model.name)));
        let _ = select.append_child(&option);
    }
    // Keeps the choice if it is still there; otherwise the built-in model.
    select.set_value(&chosen);
    if select.selected_index() < 0 {
        select.set_selected_index(0);
    }
    Ok(())
}

/// "Imported models use …; this site may store up to …", and whether the
/// browser keeps them under storage pressure.
fn show_storage(stored_bytes: u64) {
    wasm_bindgen_futures::spawn_local(async move {
        let mut text = format!("Imported models use {}.", human_bytes(stored_bytes).trim());
        if let Some((usage, quota)) = estimate().await {
            text.push_str(&format!(
                " This site uses {} of the {} the browser allows it.",
                human_bytes(usage).trim(),
                human_bytes(quota).trim()
            ));
        }
        text.push_str(match persisted().await {
            Some(true) => " The browser keeps them even when space runs low.",
            Some(false) => {
                " The browser may clear them when space runs low (importing asks it to keep them)."
            }
            None => "",
        });
        if let Ok(storage) = dom::element::<HtmlElement>("storage") {
            storage.set_text_content(Some(&text));
        }
    });
}

fn storage_manager() -> Option<JsValue> {
    let navigator = web_sys::window()?.navigator();
    let storage = Reflect::get(&navigator, &"storage".into()).ok()?;
    (!storage.is_undefined()).then_some(storage)
}

/// Calls `storage.<method>()` and awaits its promise.
async fn call_storage(method: &str) -> Option<JsValue> {
    let storage = storage_manager()?;
    let function: js_sys::Function = Reflect::get(&storage, &method.into())
        .ok()?
        .dyn_into()
        .ok()?;
    let promise: js_sys::Promise = function.call0(&storage).ok()?.dyn_into().ok()?;
    JsFuture::from(promise).await.ok()
}

async fn estimate() -> Option<(u64, u64)> {
    let estimate = call_storage("estimate").await?;
    let number = |key: &str| Reflect::get(&estimate, &key.into()).ok()?.as_f64();
    Some((number("usage")? as u64, number("quota")? as u64))
}

async fn persisted() -> Option<bool> {
    call_storage("persisted").await?.as_bool()
}

/// Asks the browser not to clear this site's storage under pressure (it may
/// ask the user, or decide from how the site is used).
pub fn request_persistence() {
    wasm_bindgen_futures::spawn_local(async {
        if persisted().await == Some(false) {
            let _ = call_storage("persist").await;
        }
    });
}
