//! Navigation between the page's surfaces. Each surface is a `<section
//! data-surface id="…">` in index.html with a link to it (`href="#<its id>"`,
//! or `href="#/<its id>"` for one that keeps its state in the address after
//! a `?`, as the visualizer does) in `<nav id="surfaces">`; adding one is
//! that section and that link. One surface shows at a time, chosen by the
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

/// The surface a fragment names: `#generator`, `#/visualize?seed=7` →
/// `generator`, `visualize`.
pub fn surface_of(fragment: &str) -> &str {
    let path = fragment.trim_start_matches('#').trim_start_matches('/');
    path.split('?').next().unwrap_or_default()
}

/// The fragment of the page's address (with its `#`).
pub fn fragment() -> String {
    web_sys::window()
        .and_then(|window| window.location().hash().ok())
        .unwrap_or_default()
}

/// Whether surface `id` is the one shown.
pub fn shows(id: &str) -> bool {
    dom::element::<HtmlElement>(id).is_ok_and(|surface| !surface.hidden())
}

/// Shows the surface the address names (the first one when it names none).
fn show_current() {
    let fragment = fragment();
    let wanted = surface_of(&fragment);
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
        let names_shown = link
            .get_attribute("href")
            .is_some_and(|href| surface_of(&href) == shown);
        let _ = if names_shown {
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
