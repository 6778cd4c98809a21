//! The Models section: choose or drop FLUX files, see what they are and
//! whether this device can run them (before anything is stored), import
//! them with a progress bar, and list, check and delete imported models,
//! with the browser's storage use and quota.

use std::{
    cell::{Cell, RefCell},
    rc::Rc,
};

use js_sys::Reflect;
use sculpt_gpu::format_bytes;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    DragEvent, Element, Event, File, FileList, HtmlButtonElement, HtmlElement, HtmlInputElement,
    HtmlProgressElement,
};

use crate::{
    page::{
        dom, model_picker,
        session::{Busy, Session},
    },
    protocol::{BUILT_IN_MODEL, ImportCheck, PageMessage, StoredModel, ToEngine},
    sources::ImportFiles,
};

/// The files the user chose (or the addresses given), kept until they are
/// imported or replaced.
#[derive(Default)]
struct ChosenFiles {
    files: RefCell<Vec<File>>,
    urls: RefCell<Vec<String>>,
    /// Whether the engine found them a model this device can run.
    importable: Cell<bool>,
}

impl ChosenFiles {
    fn import_files(&self) -> ImportFiles {
        ImportFiles {
            files: self.files.borrow().clone(),
            urls: self.urls.borrow().clone(),
        }
    }

    /// Replaces the choice with local files.
    fn choose_files(&self, files: Vec<File>) {
        *self.files.borrow_mut() = files;
        self.urls.borrow_mut().clear();
    }

    /// Replaces the choice with web addresses.
    fn choose_urls(&self, urls: Vec<String>) {
        self.files.borrow_mut().clear();
        *self.urls.borrow_mut() = urls;
    }

    fn is_empty(&self) -> bool {
        self.files.borrow().is_empty() && self.urls.borrow().is_empty()
    }
}

/// The Models surface; the shell shows the engine's answers through it.
pub struct ModelsPanel {
    session: Rc<Session>,
    chosen: Rc<ChosenFiles>,
}

impl ModelsPanel {
    pub fn wire(session: &Rc<Session>) -> Result<Self, String> {
        let chosen = Rc::new(ChosenFiles::default());
        let choose = {
            let session = Rc::clone(session);
            let chosen = Rc::clone(&chosen);
            move |files: Option<FileList>| {
                if let Some(list) = files {
                    chosen.choose_files(files_of(&list));
                    check_chosen(&session, &chosen);
                }
            }
        };
        dom::listen("import-files", "change", {
            let choose = choose.clone();
            move |_: Event| {
                let input = dom::element::<HtmlInputElement>("import-files");
                choose(input.ok().and_then(|input| input.files()));
            }
        })?;
        // Without this the browser opens a dropped file instead.
        dom::listen("drop-zone", "dragover", |event: Event| {
            event.prevent_default()
        })?;
        dom::listen("drop-zone", "drop", move |event: Event| {
            event.prevent_default();
            let files = event
                .dyn_ref::<DragEvent>()
                .and_then(|event| event.data_transfer())
                .and_then(|data| data.files());
            choose(files);
        })?;
        dom::listen("check-urls", "click", {
            let session = Rc::clone(session);
            let chosen = Rc::clone(&chosen);
            move |_: Event| {
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
                chosen.choose_urls(urls);
                check_chosen(&session, &chosen);
            }
        })?;
        dom::listen("import", "submit", {
            let session = Rc::clone(session);
            let chosen = Rc::clone(&chosen);
            move |event: Event| {
                event.prevent_default();
                import_chosen(&session, &chosen);
            }
        })?;
        // One listener for every model's buttons, present and future.
        dom::listen("stored-models", "click", {
            let session = Rc::clone(session);
            move |event: Event| model_button_pressed(&session, &event)
        })?;
        session.watch({
            let chosen = Rc::clone(&chosen);
            move |busy| set_import_enabled(busy == Busy::Idle && chosen.importable.get())
        });
        Ok(Self {
            session: Rc::clone(session),
            chosen,
        })
    }

    /// Shows what `check_files` found and enables Import when it can run here.
    pub fn show_check(&self, check: &ImportCheck) -> Result<(), String> {
        self.chosen.importable.set(check.importable);
        set_import_enabled(self.session.busy() == Busy::Idle && check.importable);
        show_check(check)
    }
}

/// New files chosen or dropped: the engine reads their headers and plans
/// them before anything is stored.
fn check_chosen(session: &Session, chosen: &ChosenFiles) {
    chosen.importable.set(false);
    set_import_enabled(false);
    if chosen.is_empty() {
        return;
    }
    let message = PageMessage::CheckFiles(chosen.import_files());
    match session.request(Busy::CheckingFiles, &message) {
        Ok(()) => dom::set_progress("Reading the files…"),
        Err(message) => dom::show_error(&message),
    }
}

fn import_chosen(session: &Session, chosen: &ChosenFiles) {
    let name = dom::element::<HtmlInputElement>("import-name")
        .map(|input| input.value().trim().to_string())
        .unwrap_or_default();
    if name.is_empty() {
        dom::show_error("Give the model a name to import it under.");
        return;
    }
    if name == BUILT_IN_MODEL {
        dom::show_error(&format!(
            "\"{name}\" is the built-in model's name; choose another."
        ));
        return;
    }
    request_persistence();
    let message = PageMessage::Import {
        name,
        files: chosen.import_files(),
    };
    match session.request(Busy::Importing, &message) {
        Ok(()) => show_import_progress("storing", "", 0, 1),
        Err(message) => dom::show_error(&message),
    }
}

/// Check, or (on a second press) delete, the model whose button was pressed.
fn model_button_pressed(session: &Session, event: &Event) {
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
    let request = match action.as_str() {
        "verify" => ToEngine::VerifyModel { name },
        // Deleting gigabytes takes a second press.
        "delete" if button.get_attribute("data-confirm").is_none() => {
            let _ = button.set_attribute("data-confirm", "");
            button.set_text_content(Some(&format!("Really delete {name}?")));
            return;
        }
        "delete" => ToEngine::DeleteModel { name },
        _ => return,
    };
    if let Err(message) = session.request(Busy::Managing, &PageMessage::Request(request)) {
        dom::show_error(&message);
    }
}

fn files_of(list: &FileList) -> Vec<File> {
    (0..list.length()).filter_map(|i| list.item(i)).collect()
}

fn show_check(check: &ImportCheck) -> Result<(), String> {
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
            format_bytes(check.bytes).trim()
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
                format_bytes(part.bytes).trim(),
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

fn set_import_enabled(enabled: bool) {
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
    dom::set_progress(&format!(
        "{verb}: {} of {} ({file})",
        format_bytes(done).trim(),
        format_bytes(total).trim()
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
            format_bytes(model.bytes).trim(),
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
    model_picker::offer("model", models)?;
    show_storage(stored_bytes);
    Ok(())
}

/// "Imported models use …; this site may store up to …", and whether the
/// browser keeps them under storage pressure.
fn show_storage(stored_bytes: u64) {
    wasm_bindgen_futures::spawn_local(async move {
        let mut text = format!("Imported models use {}.", format_bytes(stored_bytes).trim());
        if let Some((usage, quota)) = estimate().await {
            text.push_str(&format!(
                " This site uses {} of the {} the browser allows it.",
                format_bytes(usage).trim(),
                format_bytes(quota).trim()
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
fn request_persistence() {
    wasm_bindgen_futures::spawn_local(async {
        if persisted().await == Some(false) {
            let _ = call_storage("persist").await;
        }
    });
}
