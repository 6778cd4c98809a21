//! The reader's controls: the image (a sample, a file, a drawing, one handed
//! over), the Noise level, the seed, the model and size, and Restore (or
//! Cancel while it runs).

use web_sys::{HtmlInputElement, HtmlOptionElement, HtmlSelectElement};

use super::{
    MAX_STEPS, PREVIEW, Restore, Timeline, View, Visualizer,
    form::{compared, noise_level, read_spec, set_status, set_value, show_noise_value},
    timeline,
};
use crate::page::{
    dom,
    handoff::Handoff,
    start_image::{self as source, SourceImage},
};

impl Visualizer {
    pub(super) fn noise_moved(&self) {
        let t = noise_level();
        show_noise_value(t);
        self.inner.state.borrow_mut().noise = Some(t);
        self.write_address();
        self.pump();
    }

    /// The seed (which chooses the noise), the model (whose autoencoder
    /// makes the latent) or the size changed: the noisy image is shown again.
    pub(super) fn noise_source_changed(&self) {
        self.inner.state.borrow_mut().noise = Some(noise_level());
        self.write_address();
        self.pump();
    }

    pub(super) fn restore_pressed(&self) {
        {
            let mut state = self.inner.state.borrow_mut();
            if let Some(restore) = state.restore.as_mut() {
                restore.cancel = true;
                drop(state);
                set_status("Stopping after this step…");
                return;
            }
            if state.image.is_none() {
                drop(state);
                dom::show_error("Choose an image first.");
                return;
            }
            let specs = match read_spec(state.image_serial).and_then(|a| {
                let b = compared(&a)?;
                Ok([Some(a), b].into_iter().flatten().collect::<Vec<_>>())
            }) {
                Ok(specs) => specs,
                Err(message) => {
                    drop(state);
                    dom::show_error(&message);
                    return;
                }
            };
            state.runs = specs.iter().map(|_| Timeline::default()).collect();
            state.paths = None;
            state.schedules = vec![Vec::new(); specs.len()];
            state.position = 0;
            state.restore = Some(Restore {
                specs,
                current: 0,
                started: false,
                cancel: false,
            });
        }
        self.show_compared();
        self.stop_playing();
        dom::clear_error();
        set_status("Starting the restore…");
        self.write_address();
        self.refresh_controls(self.inner.session.busy());
        self.pump();
    }

    pub(super) async fn load_samples(&self) {
        let samples = match source::samples().await {
            Ok(samples) => samples,
            Err(message) => return dom::show_error(&message),
        };
        if let Ok(select) = dom::element::<HtmlSelectElement>("vis-image") {
            for sample in &samples {
                if let Ok(option) =
                    HtmlOptionElement::new_with_text_and_value(&sample.caption, &sample.id)
                {
                    let _ = select.append_child(&option);
                }
            }
        }
        self.inner.state.borrow_mut().samples = samples;
        let view = View::in_address().unwrap_or_default();
        self.apply(&view).await;
    }

    /// Sets the controls as `view` says and loads its image.
    pub(super) async fn apply(&self, view: &View) {
        if let Some(prompt) = &view.prompt {
            set_value("vis-prompt", prompt);
        }
        if let Some(model) = &view.model {
            // An imported model is offered once the engine lists it; until
            // then the built-in one is chosen.
            set_value("vis-model", model);
        }
        if let Some(size) = view.size {
            set_value("vis-size", &size.to_string());
        }
        if let Some(seed) = view.seed {
            set_value("vis-seed", &seed.to_string());
        }
        if let Some(t) = view.t {
            set_value("vis-noise", &t.to_string());
            show_noise_value(t);
        }
        if let Some(steps) = view.steps {
            set_value("vis-steps", &steps.to_string());
        }
        if let Some(guidance) = view.guidance {
            set_value("vis-guidance", &guidance.to_string());
        }
        set_value(
            "vis-prediction-kind",
            view.prediction.as_deref().unwrap_or("velocity"),
        );
        set_value("vis-compare", view.compare.as_deref().unwrap_or(""));
        set_value("vis-compare-value", view.with.as_deref().unwrap_or(""));
        if let Some(image) = &view.image {
            set_value("vis-image", image);
        }
        self.load_sample(view.prompt.is_none()).await;
        if let Some(step) = view.step {
            // The link shows a step of a restore: compute it.
            self.inner.state.borrow_mut().jump_to = Some(step);
            self.restore_pressed();
        }
    }

    pub(super) fn address_changed(&self) {
        let Some(view) = View::in_address() else {
            return;
        };
        if view == View::default() || view == self.view() {
            // The view was opened again (the navigation's link): show it as
            // it was.
            self.write_address();
            self.pump();
            return;
        }
        let visualizer = self.clone();
        wasm_bindgen_futures::spawn_local(async move { visualizer.apply(&view).await });
    }

    pub(super) fn sample_chosen(&self) {
        let visualizer = self.clone();
        wasm_bindgen_futures::spawn_local(async move { visualizer.load_sample(true).await });
    }

    /// Loads the sample the Image list names; `caption_as_prompt` puts its
    /// caption in the Prompt field.
    pub(super) async fn load_sample(&self, caption_as_prompt: bool) {
        let chosen = dom::element::<HtmlSelectElement>("vis-image")
            .map(|select| select.value())
            .unwrap_or_default();
        let sample = {
            let state = self.inner.state.borrow();
            state
                .samples
                .iter()
                .find(|sample| sample.id == chosen)
                .or(state.samples.first())
                .cloned()
        };
        let Some(sample) = sample else {
            return;
        };
        set_value("vis-image", &sample.id);
        match source::sample(&sample).await {
            Ok(image) => {
                if caption_as_prompt {
                    set_value("vis-prompt", &image.caption);
                }
                self.use_image(image);
            }
            Err(message) => dom::show_error(&message),
        }
    }

    /// An image another surface handed over ("See it in the visualizer",
    /// "Visualize" in the history): shown here with its settings.
    pub(super) fn handed(&self, handoff: Handoff) {
        self.inner.state.borrow_mut().image = None;
        set_value("vis-prompt", &handoff.prompt);
        if let Some(seed) = handoff.seed {
            set_value("vis-seed", &seed.to_string());
        }
        if let Some(t) = handoff.t {
            set_value("vis-noise", &t.to_string());
            show_noise_value(t);
        }
        if let Some(steps) = handoff
            .steps
            .filter(|steps| (1..=MAX_STEPS).contains(steps))
        {
            set_value("vis-steps", &steps.to_string());
        }
        if let Some(window) = web_sys::window() {
            let _ = window.location().set_hash("/visualize");
        }
        let visualizer = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let image = match source::blob_at(&handoff.url).await {
                Ok(blob) => source::own(&blob, "the image handed over").await,
                Err(message) => Err(message),
            };
            match image {
                Ok(mut image) => {
                    image.caption = handoff.prompt;
                    visualizer.use_image(image);
                }
                Err(message) => dom::show_error(&message),
            }
        });
    }

    pub(super) fn own_image_chosen(&self) {
        let Some(file) = dom::element::<HtmlInputElement>("vis-upload")
            .ok()
            .and_then(|input| input.files())
            .and_then(|files| files.get(0))
        else {
            return;
        };
        let visualizer = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            match source::own(&file, &file.name()).await {
                Ok(image) => {
                    set_value("vis-prompt", "");
                    visualizer.use_image(image);
                }
                Err(message) => dom::show_error(&message),
            }
        });
    }

    pub(super) fn use_image(&self, image: SourceImage) {
        let preview = source::pixels_of(&image.bitmap, PREVIEW, PREVIEW)
            .and_then(|rgba| timeline::owned_image(&rgba, PREVIEW, PREVIEW))
            .ok();
        self.inner.original.draw(preview.as_ref());
        {
            let mut state = self.inner.state.borrow_mut();
            state.image = Some(image);
            state.image_serial += 1;
            state.noise = Some(noise_level());
        }
        self.write_address();
        self.pump();
    }
}
