//! Which engine the page starts (`EngineChoice`), kept in the browser's
//! local storage: the "Engine" setting under "About this device". Changing
//! it restarts the page, since the engine owns the canvas from its start.

use web_sys::{Event, HtmlSelectElement};

use crate::page::dom;
use crate::protocol::EngineChoice;

const KEY: &str = "sculpt-engine";

/// The choice stored, `Auto` where none is (or storage is refused).
pub fn stored() -> EngineChoice {
    web_sys::window()
        .and_then(|window| window.local_storage().ok().flatten())
        .and_then(|storage| storage.get_item(KEY).ok().flatten())
        .and_then(|name| EngineChoice::from_name(&name))
        .unwrap_or_default()
}

/// Shows the stored choice in the select and restarts the page on a new one.
pub fn wire() -> Result<(), String> {
    let select = dom::element::<HtmlSelectElement>("engine")?;
    select.set_value(stored().name());
    dom::listen("engine", "change", move |_: Event| {
        let Some(choice) = EngineChoice::from_name(&select.value()) else {
            return;
        };
        let storage = web_sys::window().and_then(|window| window.local_storage().ok().flatten());
        let saved = storage.is_some_and(|storage| storage.set_item(KEY, choice.name()).is_ok());
        if !saved {
            dom::show_error(
                "The engine setting cannot be kept: this browser refuses the page local storage.",
            );
            return;
        }
        if let Some(window) = web_sys::window() {
            let _ = window.location().reload();
        }
    })
}
