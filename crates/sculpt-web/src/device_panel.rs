//! The "About this device" panel: adapter name and key limits.

use sculpt_gpu::DeviceReport;
use web_sys::HtmlElement;

use crate::dom::{document, element};

pub fn show(report: &DeviceReport) -> Result<(), String> {
    let list = element::<HtmlElement>("device-info")?;
    list.set_text_content(None);
    let document = document();
    for (label, value) in report.rows() {
        let term = document
            .create_element("dt")
            .map_err(|_| "cannot create <dt>")?;
        term.set_text_content(Some(label));
        let detail = document
            .create_element("dd")
            .map_err(|_| "cannot create <dd>")?;
        detail.set_text_content(Some(&value));
        list.append_child(&term)
            .map_err(|_| "cannot fill the device panel")?;
        list.append_child(&detail)
            .map_err(|_| "cannot fill the device panel")?;
    }
    Ok(())
}
