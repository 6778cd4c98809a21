//! Small, typed access to the elements `index.html` declares.

use wasm_bindgen::{JsCast, closure::Closure};
use web_sys::{Document, Event, HtmlElement};

pub fn document() -> Document {
    web_sys::window()
        .and_then(|window| window.document())
        .expect("sculpt-web runs in a page with a document")
}

/// The element with this id, as the type the page declares it with. A missing
/// or mistyped element is a bug in `index.html`, reported with its id.
pub fn element<T: JsCast>(id: &str) -> Result<T, String> {
    document()
        .get_element_by_id(id)
        .ok_or_else(|| format!("the page has no #{id} element"))?
        .dyn_into::<T>()
        .map_err(|_| format!("#{id} is not the expected kind of element"))
}

/// Sets the app's state (`data-state` on `#app`), which styles and tests read.
pub fn set_state(state: &str) {
    if let Ok(app) = element::<HtmlElement>("app") {
        let _ = app.set_attribute("data-state", state);
    }
}

pub fn set_status(text: &str) {
    if let Ok(status) = element::<HtmlElement>("status") {
        status.set_text_content(Some(text));
    }
}

/// Shows an error in the page (and the console), never only in the console.
pub fn show_error(message: &str) {
    web_sys::console::error_1(&message.into());
    match element::<HtmlElement>("error") {
        Ok(error) => {
            error.set_text_content(Some(message));
            error.set_hidden(false);
        }
        Err(_) => {
            if let Some(body) = document().body() {
                body.set_text_content(Some(message));
            }
        }
    }
}

pub fn clear_error() {
    if let Ok(error) = element::<HtmlElement>("error") {
        error.set_hidden(true);
        error.set_text_content(None);
    }
}

/// The line under the canvas that says what a long request is doing.
pub fn set_progress(text: &str) {
    if let Ok(progress) = element::<HtmlElement>("progress") {
        progress.set_text_content(Some(text));
    }
}

/// Calls `action` on every `event` of element `id`; the listener lives as
/// long as the page.
pub fn listen(id: &str, event: &str, action: impl FnMut(Event) + 'static) -> Result<(), String> {
    let target: web_sys::EventTarget = element(id)?;
    let listener = Closure::<dyn FnMut(Event)>::new(action);
    target
        .add_event_listener_with_callback(event, listener.as_ref().unchecked_ref())
        .map_err(|_| format!("cannot listen to #{id}"))?;
    listener.forget();
    Ok(())
}

/// Adds an SVG element `name` with these attributes to `parent`.
pub fn add_svg(
    parent: &web_sys::Element,
    name: &str,
    attributes: &[(&str, &str)],
) -> Option<web_sys::Element> {
    let element = document()
        .create_element_ns(Some("http://www.w3.org/2000/svg"), name)
        .ok()?;
    for (attribute, value) in attributes {
        element.set_attribute(attribute, value).ok()?;
    }
    parent.append_child(&element).ok()?;
    Some(element)
}
