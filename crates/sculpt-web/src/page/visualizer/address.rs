//! The visualizer's view in the page's address, so that a link opens the
//! same view: `#/visualize?image=star&prompt=…&seed=7&t=0.6&steps=8&step=3`,
//! with `guidance=4`, `prediction=noise` and, comparing two runs,
//! `compare=steps&with=20`.
//! Every field is optional; what a link leaves out keeps the page's
//! default, and a value that does not parse is ignored rather than refused
//! (a link is not a form).

use web_sys::UrlSearchParams;

use crate::page::nav;

/// What an address says about the view.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct View {
    /// A sample's id.
    pub image: Option<String>,
    /// The model (the built-in one when absent) and the run's size.
    pub model: Option<String>,
    pub size: Option<usize>,
    pub prompt: Option<String>,
    pub seed: Option<u32>,
    /// The noise level, in [0, 1].
    pub t: Option<f64>,
    pub steps: Option<usize>,
    pub guidance: Option<f32>,
    /// "noise" when the Prediction picture shows the implied noise.
    pub prediction: Option<String>,
    /// The setting run B changes ("steps", "guidance", "prompt", "t"), and
    /// its value there.
    pub compare: Option<String>,
    pub with: Option<String>,
    /// The step shown (0 is the start): the link's reader sees the restore
    /// computed up to there.
    pub step: Option<usize>,
}

pub const SURFACE: &str = "visualize";

impl View {
    /// The view the page's address names, if it names the visualizer.
    pub fn in_address() -> Option<View> {
        let fragment = nav::fragment();
        if nav::surface_of(&fragment) != SURFACE {
            return None;
        }
        let query = fragment.split_once('?').map_or("", |(_, query)| query);
        let params = UrlSearchParams::new_with_str(query).ok()?;
        let text = |name: &str| params.get(name).map(|value| value.trim().to_string());
        let count = |name: &str| text(name).and_then(|value| value.parse::<usize>().ok());
        Some(View {
            image: params.get("image").filter(|id| !id.is_empty()),
            model: params.get("model").filter(|model| !model.is_empty()),
            size: count("size"),
            prompt: params.get("prompt"),
            seed: text("seed").and_then(|value| value.parse().ok()),
            t: params
                .get("t")
                .and_then(|value| value.trim().parse::<f64>().ok())
                .filter(|t| (0.0..=1.0).contains(t)),
            steps: count("steps"),
            guidance: text("guidance").and_then(|value| value.parse().ok()),
            prediction: text("prediction").filter(|kind| !kind.is_empty()),
            compare: text("compare").filter(|what| !what.is_empty()),
            with: params.get("with").filter(|with| !with.trim().is_empty()),
            step: count("step"),
        })
    }

    /// The fragment that opens this view (`#/visualize?…`).
    pub fn fragment(&self) -> String {
        let Ok(params) = UrlSearchParams::new() else {
            return format!("#/{SURFACE}");
        };
        if let Some(image) = &self.image {
            params.set("image", image);
        }
        if let Some(model) = &self.model {
            params.set("model", model);
        }
        if let Some(size) = self.size {
            params.set("size", &size.to_string());
        }
        if let Some(prompt) = &self.prompt {
            params.set("prompt", prompt);
        }
        if let Some(seed) = self.seed {
            params.set("seed", &seed.to_string());
        }
        if let Some(t) = self.t {
            params.set("t", &format!("{t:.2}"));
        }
        if let Some(steps) = self.steps {
            params.set("steps", &steps.to_string());
        }
        if let Some(guidance) = self.guidance {
            params.set("guidance", &guidance.to_string());
        }
        if let Some(prediction) = &self.prediction {
            params.set("prediction", prediction);
        }
        if let Some(compare) = &self.compare {
            params.set("compare", compare);
        }
        if let Some(with) = &self.with {
            params.set("with", with);
        }
        if let Some(step) = self.step {
            params.set("step", &step.to_string());
        }
        format!("#/{SURFACE}?{}", String::from(params.to_string()))
    }

    /// Puts this view in the address without a new history entry (moving
    /// a slider should not fill the Back button).
    pub fn write(&self) {
        let fragment = self.fragment();
        if let Some(history) = web_sys::window().and_then(|window| window.history().ok()) {
            let _ =
                history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&fragment));
        }
        if let Ok(link) = crate::page::dom::element::<web_sys::HtmlAnchorElement>("vis-link") {
            link.set_href(&fragment);
        }
    }
}
