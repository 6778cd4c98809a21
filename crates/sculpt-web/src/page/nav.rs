//! Navigation between the page's surfaces. Each surface is a `<section
//! data-surface id="…">` in index.html with a link to it (`href="#<its id>"`)
//! in `<nav id="surfaces">`; adding one (the visualizer, the widget's demo)
//! is that section and that link. One surface shows at a time, chosen by the
//! address's fragment, so the browser's Back and bookmarks work; without
//! this module the links still scroll to each section.

use wasm_bindgen::{JsCast, closure::Closure};
use web_sys::{Element, Event, HtmlElement};

use crate::page::dom;

pub fn wire() -> Result<(), String> {
    show_current();
    let window = web_sys::window().ok_or("no window")?;
    let listener = Closure::<dyn FnMut(Event)>::new(|_: Event| show_current());
    window
        .add_event_listener_with_callback("hashchange", listener.as_ref().unchecked_ref())
        .map_err(|_| "cannot follow the page's address")?;
    // The listener lives as long as the page.
    listener.forget();
    Ok(())
}

/// Shows the surface the address names (the first one when it names none).
fn show_current() {
    let fragment = web_sys::window()
        .and_then(|window| window.location().hash().ok())
        .unwrap_or_default();
    let wanted = fragment.trim_start_matches('#');
    let surfaces = all("[data-surface]");
    let Some(first) = surfaces.first() else {
        return;
    };
    let shown = if surfaces.iter().any(|surface| surface.id() == wanted) {
        wanted.to_string()
    } else {
        first.id()
    };
    for surface in &surfaces {
        if let Some(surface) = surface.dyn_ref::<HtmlElement>() {
            surface.set_hidden(surface.id() != shown);
        }
    }
    for link in all("#surfaces a") {
        let _ = if link.get_attribute("href").as_deref() == Some(&format!("#{shown}")) {
            link.set_attribute("aria-current", "page")
        } else {
            link.remove_attribute("aria-current")
        };
    }
}

fn all(selector: &str) -> Vec<Element> {
    let Ok(nodes) = dom::document().query_selector_all(selector) else {
        return Vec::new();
    };
    (0..nodes.length())
        .filter_map(|index| nodes.item(index)?.dyn_into::<Element>().ok())
        .collect()
}
