//! A Model list (the generator's, the visualizer's): the built-in model
//! first, then every verified imported model, keeping the reader's choice
//! where it is still offered.

use wasm_bindgen::JsCast;
use web_sys::{Element, HtmlSelectElement};

use crate::{page::dom, protocol::StoredModel};

/// The list `id`'s imported entries are replaced by the verified models.
pub fn offer(id: &str, models: &[StoredModel]) -> Result<(), String> {
    let select: HtmlSelectElement = dom::element(id)?;
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
