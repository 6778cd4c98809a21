//! The "About this device" panel: adapter name and key limits.

use web_sys::HtmlElement;

use crate::dom::{document, element};

/// Fills the panel with the engine's (label, value) rows.
pub fn show(rows: &[(String, String)]) -> Result<(), String> {
    let list = element::<HtmlElement>("device-info")?;
    list.set_text_content(None);
    let document = document();
    for (label, value) in rows {
        let term = document
            .create_element("dt")
            .map_err(|_| "cannot create <dt>")?;
        term.set_text_content(Some(label));
        let detail = document
            .create_element("dd")
            .map_err(|_| "cannot create <dd>")?;
        detail.set_text_content(Some(value));
        list.append_child(&term)
            .map_err(|_| "cannot fill the device panel")?;
        list.append_child(&detail)
            .map_err(|_| "cannot fill the device panel")?;
    }
    Ok(())
}
