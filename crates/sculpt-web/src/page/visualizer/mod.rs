//! The visualizer (`#/visualize`): the forward and the reverse process of
//! diffusion on one image, live. The Noise level slider shows the image
//! noised to t (the engine mixes the seed's noise into its latent and
//! decodes it; no model runs); Restore runs the model back from that t a
//! step at a time, and every step's noisy image x_t, predicted clean image
//! x̂₀ and prediction come back as pixels, kept in the page ([`timeline`])
//! so that the Step slider, Play and the schedule plot scrub through them
//! with no work for the engine. Compare runs a second restore, B, with one
//! setting changed (steps, guidance, prompt or noise level) from the same
//! noise, and the one Step slider moves both, matched by noise level. The
//! view lives in the address ([`address`]), so a link opens it again.
//!
//! It drives the engine's step-level run (`start_run`, `noise_run`,
//! `restart_run`, `step_run`; see [`crate::protocol`]) one request at a
//! time through the page's [`Session`], as every surface does; the shell
//! hands it the replies while it keeps the engine busy.

mod address;
mod inside;
mod schedule_plot;
mod sketch;
mod timeline;

use std::{cell::RefCell, rc::Rc};

use wasm_bindgen::JsCast;
use web_sys::{
    Event, HtmlButtonElement, HtmlElement, HtmlInputElement, HtmlOptionElement, HtmlSelectElement,
};

use crate::page::{
    handoff::Handoff,
    start_image::{self as source, Sample, SourceImage},
};
use crate::{
    page::{
        dom, nav,
        session::{Busy, Session},
    },
    protocol::{
        BUILT_IN_MODEL, GenerateSettings, PageMessage, RUN_HISTORY_LIMIT, RunFrame, RunImage,
        RunSettings, ShowLatent, StoredModel, ToEngine,
    },
};
use address::View;
use timeline::{Canvas, Canvases, Pictures, Timeline};

/// The size the original image is shown at.
const PREVIEW: usize = 64;
const MAX_STEPS: usize = 50;
const MAX_GUIDANCE: f32 = 20.0;
/// The time between two points while playing.
const PLAY_MS: u32 = 400;
/// What each step sends back: all three pictures.
const FRAMES: [ShowLatent; 3] = [
    ShowLatent::Current,
    ShowLatent::PredictedClean,
    ShowLatent::Velocity,
];

#[derive(Clone)]
pub struct Visualizer {
    inner: Rc<Inner>,
}

struct Inner {
    session: Rc<Session>,
    /// Run A's canvases, then run B's.
    canvases: [Canvases; 2],
    original: Canvas,
    state: RefCell<State>,
}

/// What the engine's run was started with: a change of any of them needs a
/// new run.
#[derive(Clone, Debug, PartialEq)]
struct RunKey {
    /// Counts the images chosen, so the same sample chosen again is new.
    image: u64,
    model: String,
    /// The run's width and height.
    size: usize,
    prompt: String,
    seed: u32,
    steps: usize,
    cfg_scale: Option<f32>,
}

/// One restore to compute: its run, and the noise level it starts from.
#[derive(Clone, Debug, PartialEq)]
struct RunSpec {
    key: RunKey,
    t: f64,
}

#[derive(Default)]
struct State {
    samples: Vec<Sample>,
    image: Option<SourceImage>,
    image_serial: u64,
    /// The engine's run, while it is ours.
    run: Option<RunKey>,
    /// The run being started (until the engine says it has).
    starting: Option<RunKey>,
    /// A noise level to show (the forward process) when the engine is free.
    noise: Option<f64>,
    restore: Option<Restore>,
    /// The computed runs: A, and B when comparing.
    runs: Vec<Timeline>,
    schedules: Vec<Vec<f64>>,
    /// The Step slider's value: a point of the reference run (the one with
    /// the most points).
    position: usize,
    /// The step a link asked to show, once the restore reaches it.
    jump_to: Option<usize>,
    /// The runs' paths for "Look inside", projected once per point added.
    paths: Option<inside::Paths>,
    playing: Option<gloo::timers::callback::Interval>,
}

/// A restore in progress: run A, then B when comparing.
struct Restore {
    specs: Vec<RunSpec>,
    /// Which of `specs` is computing.
    current: usize,
    /// It has been (re)started at its noise level.
    started: bool,
    cancel: bool,
}

impl State {
    /// The run the Step slider counts the points of.
    fn reference(&self) -> usize {
        let mut reference = 0;
        for (index, run) in self.runs.iter().enumerate() {
            if run.len() > self.runs[reference].len() {
                reference = index;
            }
        }
        reference
    }

    fn computed(&self) -> usize {
        self.runs.get(self.reference()).map_or(0, Timeline::len)
    }
}

impl Visualizer {
    pub fn wire(session: &Rc<Session>) -> Result<Self, String> {
        let visualizer = Visualizer {
            inner: Rc::new(Inner {
                session: Rc::clone(session),
                canvases: [
                    Canvases::find(["vis-noisy", "vis-clean", "vis-prediction"])?,
                    Canvases::find(["vis-b-noisy", "vis-b-clean", "vis-b-prediction"])?,
                ],
                original: Canvas::find("vis-original")?,
                state: RefCell::new(State::default()),
            }),
        };
        visualizer.wire_controls()?;
        let pad = sketch::Sketch::wire()?;
        let drawn = visualizer.clone();
        dom::listen("vis-sketch-use", "click", move |_: Event| {
            let pad = Rc::clone(&pad);
            let visualizer = drawn.clone();
            wasm_bindgen_futures::spawn_local(async move {
                match pad.picture().await {
                    Ok(bitmap) => {
                        set_value("vis-prompt", "");
                        visualizer.use_image(SourceImage {
                            key: None,
                            caption: String::new(),
                            bitmap,
                        });
                    }
                    Err(message) => dom::show_error(&message),
                }
            });
        })?;
        let watcher = visualizer.clone();
        session.watch(move |busy| watcher.on_busy(busy));
        let receiver = visualizer.clone();
        Handoff::listen(move |handoff| receiver.handed(handoff))?;
        let opened = visualizer.clone();
        wasm_bindgen_futures::spawn_local(async move { opened.load_samples().await });
        Ok(visualizer)
    }

    fn wire_controls(&self) -> Result<(), String> {
        let on = |id: &str, event: &str, action: fn(&Visualizer, Event)| {
            let visualizer = self.clone();
            dom::listen(id, event, move |event| action(&visualizer, event))
        };
        on("vis-noise", "input", |v, _| v.noise_moved())?;
        on("vis-image", "change", |v, _| v.sample_chosen())?;
        on("vis-upload", "change", |v, _| v.own_image_chosen())?;
        on("vis-seed", "change", |v, _| v.seed_changed())?;
        on("vis-prompt", "change", |v, _| v.write_address())?;
        on("vis-steps", "change", |v, _| v.write_address())?;
        on("vis-guidance", "change", |v, _| v.write_address())?;
        on("vis-model", "change", |v, _| v.seed_changed())?;
        on("vis-size", "change", |v, _| v.seed_changed())?;
        on("vis-compare", "change", |v, _| v.write_address())?;
        on("vis-compare-value", "change", |v, _| v.write_address())?;
        on("vis-restore-form", "submit", |v, event| {
            event.prevent_default();
            v.restore_pressed();
        })?;
        on("vis-step", "input", |v, _| {
            v.stop_playing();
            v.show_position(read_number("vis-step").unwrap_or(0));
        })?;
        on("vis-previous", "click", |v, _| {
            v.stop_playing();
            v.show_position(v.position().saturating_sub(1));
        })?;
        on("vis-next", "click", |v, _| {
            v.stop_playing();
            v.show_position(v.position() + 1);
        })?;
        on("vis-play", "click", |v, _| v.play_pressed())?;
        on("vis-inside", "toggle", |v, _| v.show_position(v.position()))?;
        on("vis-schedule", "click", |v, event| {
            let step = event
                .target()
                .and_then(|target| target.dyn_into::<web_sys::Element>().ok())
                .and_then(|point| point.get_attribute("data-step"))
                .and_then(|step| step.parse().ok());
            if let Some(step) = step {
                v.stop_playing();
                v.show_position(step);
            }
        })?;
        let window = web_sys::window().ok_or("no window")?;
        let visualizer = self.clone();
        let on_address =
            wasm_bindgen::closure::Closure::<dyn FnMut(Event)>::new(move |_: Event| {
                visualizer.address_changed()
            });
        window
            .add_event_listener_with_callback("hashchange", on_address.as_ref().unchecked_ref())
            .map_err(|_| "cannot follow the page's address")?;
        // The listener lives as long as the page.
        on_address.forget();
        Ok(())
    }

    // ---- The engine's replies (the shell routes them here while the
    // visualizer keeps the engine busy). ----

    /// The run's start is drawn: its noisy image, and the times it visits.
    pub fn on_run_started(&self, schedule: Vec<f64>, frames: &[RunFrame], warnings: &[String]) {
        let t = schedule.first().copied().unwrap_or(1.0);
        let pictures = match Pictures::of(t, frames) {
            Ok(pictures) => pictures,
            Err(message) => return self.fail(&message),
        };
        let restoring = {
            let mut state = self.inner.state.borrow_mut();
            if let Some(key) = state.starting.take() {
                state.run = Some(key);
            }
            match state.restore.as_mut() {
                Some(restore) => {
                    restore.started = true;
                    let run = restore.current;
                    state.runs[run] = Timeline::default();
                    state.runs[run].push(pictures);
                    state.schedules[run] = schedule.clone();
                    Some(run)
                }
                None => {
                    // The forward process, shown on run A.
                    self.inner.canvases[0].draw_noisy(&pictures.noisy, t);
                    None
                }
            }
        };
        if !warnings.is_empty() {
            set_status(&warnings.join(" "));
        }
        let Some(run) = restoring else {
            return self.done_with_engine();
        };
        self.show_latest(run);
        if schedule.len() > 1 {
            self.inner.session.follow(ToEngine::StepRun);
        } else {
            self.run_finished(
                run,
                "Nothing to restore at noise level 0: the image is already clean.",
            );
        }
    }

    /// A step of the restore came back.
    pub fn on_step(&self, index: usize, count: usize, frames: &[RunFrame]) {
        let (run, t, cancel) = {
            let state = self.inner.state.borrow();
            let Some(restore) = state.restore.as_ref() else {
                return;
            };
            let run = restore.current;
            let t = state.schedules[run].get(index + 1).copied().unwrap_or(0.0);
            (run, t, restore.cancel)
        };
        let pictures = match Pictures::of(t, frames) {
            Ok(pictures) => pictures,
            Err(message) => return self.fail(&message),
        };
        self.inner.state.borrow_mut().runs[run].push(pictures);
        let attribute = if run == 0 {
            "data-steps-drawn"
        } else {
            "data-b-steps-drawn"
        };
        let _ = self
            .section()
            .map(|section| section.set_attribute(attribute, &(index + 1).to_string()));
        self.show_latest(run);
        let name = run_name(run);
        if index + 1 >= count {
            self.run_finished(run, &format!("Restored{name} in {count} steps."));
        } else if cancel {
            self.finish(&format!(
                "Stopped{name} after {} of {count} steps.",
                index + 1
            ));
        } else {
            set_status(&format!(
                "Step {} of {count}{name} (t = {t:.2})…",
                index + 1
            ));
            self.inner.session.follow(ToEngine::StepRun);
        }
    }

    /// Run `run` of the restore has taken all its steps: the next run, or
    /// the end.
    fn run_finished(&self, run: usize, message: &str) {
        let next = {
            let mut state = self.inner.state.borrow_mut();
            match state.restore.as_mut() {
                Some(restore) if run + 1 < restore.specs.len() && !restore.cancel => {
                    restore.current = run + 1;
                    restore.started = false;
                    true
                }
                _ => false,
            }
        };
        if next {
            set_status(&format!("{message} Now run B…"));
            // The engine is free: the next request starts run B.
            self.inner.session.set_busy(Busy::Idle);
        } else {
            self.finish(&format!("{message} Scrub through the steps with Step."));
        }
    }

    /// The imported models the engine can run: offered under Model, beside
    /// the built-in one.
    pub fn offer_models(&self, models: &[StoredModel]) {
        let Ok(select) = dom::element::<HtmlSelectElement>("vis-model") else {
            return;
        };
        let chosen = select.value();
        while select.length() > 1 {
            select.remove_with_index(1);
        }
        for model in models.iter().filter(|model| model.state == "verified") {
            if let Ok(option) = HtmlOptionElement::new_with_text_and_value(
                &format!("{} (imported)", model.name),
                &model.name,
            ) {
                let _ = select.append_child(&option);
            }
        }
        select.set_value(&chosen);
        if select.selected_index() < 0 {
            select.set_selected_index(0);
        }
    }

    /// The forward process's noisy image came back.
    pub fn on_run_drawn(&self, t: f64, frames: &[RunFrame]) {
        match frames.first().map(timeline::image_data) {
            Some(Ok(noisy)) => {
                self.inner.canvases[0].draw_noisy(&noisy, t);
                self.done_with_engine();
            }
            Some(Err(message)) => self.fail(&message),
            None => self.fail("the engine drew the noisy image on its own canvas"),
        }
    }

    /// A request of the visualizer's failed (the shell shows the message):
    /// the next one starts a new run.
    pub fn on_failed(&self) {
        let mut state = self.inner.state.borrow_mut();
        state.run = None;
        state.starting = None;
        state.noise = None;
        state.restore = None;
        drop(state);
        set_run_state("none");
        self.refresh_controls(self.inner.session.busy());
    }

    pub fn on_progress(&self, message: &str) {
        set_status(message);
    }

    // ---- Sending work. ----

    /// Asks the engine for what is wanted next, if it is free and the view
    /// is shown.
    fn pump(&self) {
        let session = &self.inner.session;
        if session.busy() != Busy::Idle || !nav::shows("visualize") {
            return;
        }
        let (message, restoring) = {
            let mut state = self.inner.state.borrow_mut();
            let Some(image) = &state.image else {
                return;
            };
            let spec = match state.restore.as_ref() {
                Some(restore) => restore.specs[restore.current].clone(),
                None if state.noise.is_some() => match read_spec(state.image_serial) {
                    Ok(spec) => spec,
                    // Shown when Restore is pressed.
                    Err(_) => return,
                },
                None => return,
            };
            let message = if state.run.as_ref() != Some(&spec.key) {
                let size = spec.key.size;
                let Ok(rgba) = source::pixels_of(&image.bitmap, size, size) else {
                    drop(state);
                    return self.fail("the image cannot be drawn at the run's size");
                };
                let message = ToEngine::StartRun(RunSettings {
                    generate: GenerateSettings {
                        model: spec.key.model.clone(),
                        prompt: spec.key.prompt.clone(),
                        width: size,
                        height: size,
                        steps: spec.key.steps,
                        seed: spec.key.seed,
                        show: ShowLatent::Current,
                        image: Some(RunImage {
                            width: size,
                            height: size,
                            rgba,
                        }),
                        t: Some(spec.t),
                    },
                    history: spec.key.steps.min(RUN_HISTORY_LIMIT),
                    frames: FRAMES.to_vec(),
                    latents: true,
                    cfg_scale: spec.key.cfg_scale,
                });
                state.starting = Some(spec.key);
                state.noise = None;
                message
            } else if state
                .restore
                .as_ref()
                .is_some_and(|restore| !restore.started)
            {
                state.noise = None;
                ToEngine::RestartRun { t: spec.t }
            } else if let Some(t) = state.noise.take() {
                ToEngine::NoiseRun { t }
            } else {
                return;
            };
            (message, state.restore.is_some())
        };
        set_run_state(if restoring { "restoring" } else { "noising" });
        if let Err(message) = session.request(Busy::Visualizing, &PageMessage::Request(message)) {
            self.on_failed();
            dom::show_error(&message);
        }
    }

    /// The engine is free again: the rest of what is wanted.
    fn done_with_engine(&self) {
        let restoring = self.inner.state.borrow().restore.is_some();
        if !restoring {
            set_run_state("idle");
        }
        self.inner.session.set_busy(Busy::Idle);
    }

    fn finish(&self, message: &str) {
        let (jump_to, last) = {
            let mut state = self.inner.state.borrow_mut();
            state.restore = None;
            (state.jump_to.take(), state.computed().saturating_sub(1))
        };
        set_status(message);
        set_run_state("done");
        self.show_position(jump_to.unwrap_or(last));
        self.write_address();
        self.inner.session.set_busy(Busy::Idle);
    }

    fn fail(&self, message: &str) {
        self.on_failed();
        dom::show_error(message);
        self.inner.session.set_busy(Busy::Idle);
    }

    fn on_busy(&self, busy: Busy) {
        if busy == Busy::Generating {
            // A generation replaces the engine's run.
            self.inner.state.borrow_mut().run = None;
        }
        self.refresh_controls(busy);
        if busy == Busy::Idle {
            // After the handler that freed the engine has returned.
            let visualizer = self.clone();
            wasm_bindgen_futures::spawn_local(async move { visualizer.pump() });
        }
    }

    fn refresh_controls(&self, busy: Busy) {
        let Ok(state) = self.inner.state.try_borrow() else {
            return;
        };
        let restoring = state.restore.is_some();
        let computed = state.computed();
        drop(state);
        if let Ok(button) = dom::element::<HtmlButtonElement>("vis-restore") {
            button.set_text_content(Some(if restoring { "Cancel" } else { "Restore" }));
            button.set_disabled(!(busy == Busy::Idle || restoring));
        }
        for id in ["vis-step", "vis-previous", "vis-next", "vis-play"] {
            if let Ok(control) = dom::element::<HtmlElement>(id) {
                let _ = if computed > 1 {
                    control.remove_attribute("disabled")
                } else {
                    control.set_attribute("disabled", "")
                };
            }
        }
    }

    // ---- The reader's controls. ----

    fn noise_moved(&self) {
        let t = noise_level();
        show_noise_value(t);
        self.inner.state.borrow_mut().noise = Some(t);
        self.write_address();
        self.pump();
    }

    fn seed_changed(&self) {
        // The seed chooses the noise: show the image with the new one.
        self.inner.state.borrow_mut().noise = Some(noise_level());
        self.write_address();
        self.pump();
    }

    fn restore_pressed(&self) {
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

    async fn load_samples(&self) {
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
    async fn apply(&self, view: &View) {
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

    fn address_changed(&self) {
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

    fn sample_chosen(&self) {
        let visualizer = self.clone();
        wasm_bindgen_futures::spawn_local(async move { visualizer.load_sample(true).await });
    }

    /// Loads the sample the Image list names; `caption_as_prompt` puts its
    /// caption in the Prompt field.
    async fn load_sample(&self, caption_as_prompt: bool) {
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
    fn handed(&self, handoff: Handoff) {
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

    fn own_image_chosen(&self) {
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

    fn use_image(&self, image: SourceImage) {
        let preview = source::pixels_of(&image.bitmap, PREVIEW, PREVIEW)
            .ok()
            .and_then(|rgba| {
                timeline::image_data(&RunFrame {
                    show: ShowLatent::Current,
                    width: PREVIEW,
                    height: PREVIEW,
                    rgba,
                    latent: None,
                })
                .ok()
            });
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

    // ---- Scrubbing. ----

    fn position(&self) -> usize {
        self.inner.state.borrow().position
    }

    /// Draws run `run`'s newest point while it computes; run A's moves the
    /// Step slider with it.
    fn show_latest(&self, run: usize) {
        if run == 0 {
            let last = self.inner.state.borrow().runs[0].len().saturating_sub(1);
            return self.show_position(last);
        }
        let state = self.inner.state.borrow();
        if let Some(pictures) = state.runs[run].last() {
            self.inner.canvases[run].draw(pictures);
        }
    }

    /// Draws point `position` of the reference run (0: the start) and the
    /// point every other run had reached by its noise level, from what the
    /// page keeps.
    fn show_position(&self, position: usize) {
        let (shown, computed, t, schedule, other) = {
            let mut state = self.inner.state.borrow_mut();
            let reference = state.reference();
            let Some(last) = state
                .runs
                .get(reference)
                .and_then(|run| run.len().checked_sub(1))
            else {
                return;
            };
            let shown = position.min(last);
            state.position = shown;
            let t = state.runs[reference]
                .get(shown)
                .map_or(0.0, |point| point.t);
            for (run, canvases) in state.runs.iter().zip(&self.inner.canvases) {
                let index = if std::ptr::eq(run, &state.runs[reference]) {
                    shown
                } else {
                    run.point_at(t)
                };
                if let Some(pictures) = run.get(index) {
                    canvases.draw(pictures);
                }
            }
            let other = state
                .schedules
                .iter()
                .enumerate()
                .find(|(index, _)| *index != reference)
                .map(|(_, schedule)| schedule.clone());
            (
                shown,
                last + 1,
                t,
                state.schedules[reference].clone(),
                other,
            )
        };
        if let Ok(slider) = dom::element::<HtmlInputElement>("vis-step") {
            slider.set_max(&(computed - 1).to_string());
            slider.set_value(&shown.to_string());
            let _ = slider.set_attribute("aria-valuetext", &step_text(shown, computed, t));
        }
        if let Ok(value) = dom::element::<HtmlElement>("vis-step-value") {
            value.set_text_content(Some(&step_text(shown, computed, t)));
        }
        schedule_plot::draw(&schedule, computed, Some(shown), other.as_deref());
        if inside::open() {
            self.look_inside(t);
        }
        self.refresh_controls(self.inner.session.busy());
        if self.inner.state.borrow().restore.is_none() {
            self.write_address();
        }
    }

    /// Draws "Look inside" for run A's point at noise level `t`.
    fn look_inside(&self, t: f64) {
        let mut state = self.inner.state.borrow_mut();
        let Some(run) = state.runs.first() else {
            return;
        };
        let index = run.point_at(t);
        if let Some(point) = run.get(index) {
            inside::draw_latents(point.noisy_latent.as_ref(), point.clean_latent.as_ref());
        }
        let total: usize = state.runs.iter().map(Timeline::len).sum();
        if state
            .paths
            .as_ref()
            .is_none_or(|paths| paths.len() != total)
        {
            state.paths = inside::Paths::of(&state.runs);
        }
        if let Some(paths) = &state.paths {
            paths.draw(0, index);
        }
    }

    /// Shows run B's row, with both runs' titles, when comparing.
    fn show_compared(&self) {
        let titles = {
            let state = self.inner.state.borrow();
            state.restore.as_ref().and_then(|restore| {
                let b = restore.specs.get(1)?;
                let a = &restore.specs[0];
                Some([
                    format!("Run A: {}", describe(a, b)),
                    format!("Run B: {}", describe(b, a)),
                ])
            })
        };
        let comparing = titles.is_some();
        if let Ok(row) = dom::element::<HtmlElement>("vis-run-b") {
            row.set_hidden(!comparing);
        }
        if let Ok(title) = dom::element::<HtmlElement>("vis-a-title") {
            title.set_hidden(!comparing);
        }
        self.inner.canvases[1].clear();
        if let Some([a, b]) = titles {
            for (id, text) in [("vis-a-title", a), ("vis-b-title", b)] {
                if let Ok(title) = dom::element::<HtmlElement>(id) {
                    title.set_text_content(Some(&text));
                }
            }
        }
    }

    fn play_pressed(&self) {
        if self.inner.state.borrow().playing.is_some() {
            return self.stop_playing();
        }
        let (shown, computed) = {
            let state = self.inner.state.borrow();
            (state.position, state.computed())
        };
        if computed < 2 {
            return;
        }
        // From the start again once at the end.
        if shown + 1 >= computed {
            self.show_position(0);
        }
        let visualizer = self.clone();
        let interval = gloo::timers::callback::Interval::new(PLAY_MS, move || {
            let (shown, computed) = {
                let state = visualizer.inner.state.borrow();
                (state.position, state.computed())
            };
            if shown + 1 >= computed {
                visualizer.stop_playing();
            } else {
                visualizer.show_position(shown + 1);
            }
        });
        self.inner.state.borrow_mut().playing = Some(interval);
        if let Ok(play) = dom::element::<HtmlElement>("vis-play") {
            let _ = play.set_attribute("aria-pressed", "true");
            play.set_text_content(Some("Pause"));
            let _ = play.set_attribute("aria-label", "Play");
        }
    }

    fn stop_playing(&self) {
        let stopped = self.inner.state.borrow_mut().playing.take();
        if stopped.is_some()
            && let Ok(play) = dom::element::<HtmlElement>("vis-play")
        {
            let _ = play.set_attribute("aria-pressed", "false");
            play.set_text_content(Some("Play"));
        }
    }

    // ---- The address. ----

    fn view(&self) -> View {
        let state = self.inner.state.borrow();
        let image = state.image.as_ref().and_then(|image| image.key.clone());
        let step = (state.computed() > 1).then_some(state.position);
        drop(state);
        let text = |id: &str| {
            dom::element::<HtmlInputElement>(id)
                .map(|input| input.value())
                .unwrap_or_default()
        };
        let model = select_value("vis-model");
        View {
            image,
            model: Some(model).filter(|model| model != BUILT_IN_MODEL && !model.is_empty()),
            size: Some(select_value("vis-size"))
                .and_then(|size| size.parse().ok())
                .filter(|&size| size != PREVIEW),
            prompt: Some(text("vis-prompt")),
            seed: text("vis-seed").trim().parse().ok(),
            t: Some(noise_level()),
            steps: text("vis-steps").trim().parse().ok(),
            guidance: text("vis-guidance").trim().parse().ok(),
            compare: Some(select_value("vis-compare")).filter(|what| !what.is_empty()),
            with: Some(text("vis-compare-value")).filter(|with| !with.trim().is_empty()),
            step,
        }
    }

    fn write_address(&self) {
        if nav::shows("visualize") {
            self.view().write();
        }
    }

    fn section(&self) -> Option<HtmlElement> {
        dom::element("visualize").ok()
    }
}

/// Run A as the form says: the Prompt, Seed, Steps and Guidance fields,
/// checked, and the noise level.
fn read_spec(image: u64) -> Result<RunSpec, String> {
    let text = |id: &str| {
        dom::element::<HtmlInputElement>(id)
            .map(|input| input.value())
            .unwrap_or_default()
    };
    let seed_text = text("vis-seed");
    let seed = seed_text.trim().parse::<u32>().map_err(|_| {
        format!("Seed must be a whole number from 0 to 4294967295, not \"{seed_text}\".")
    })?;
    let guidance_text = text("vis-guidance");
    let cfg_scale = if guidance_text.trim().is_empty() {
        None
    } else {
        Some(parse_guidance(&guidance_text)?)
    };
    let size = select_value("vis-size")
        .parse()
        .map_err(|_| "the size list has an entry that is not a number")?;
    Ok(RunSpec {
        key: RunKey {
            image,
            model: Some(select_value("vis-model"))
                .filter(|model| !model.is_empty())
                .unwrap_or_else(|| BUILT_IN_MODEL.into()),
            size,
            prompt: text("vis-prompt"),
            seed,
            steps: parse_steps(&text("vis-steps"))?,
            cfg_scale,
        },
        t: noise_level(),
    })
}

/// Run B, when Compare names a setting: run A with that one changed.
fn compared(a: &RunSpec) -> Result<Option<RunSpec>, String> {
    let what = select_value("vis-compare");
    let value = dom::element::<HtmlInputElement>("vis-compare-value")
        .map(|input| input.value())
        .unwrap_or_default();
    let mut b = a.clone();
    match what.as_str() {
        "" => return Ok(None),
        "steps" => b.key.steps = parse_steps(&value)?,
        "guidance" => b.key.cfg_scale = Some(parse_guidance(&value)?),
        "prompt" => b.key.prompt = value,
        "t" => {
            b.t = value
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|t| (0.0..=1.0).contains(t))
                .ok_or_else(|| {
                    format!("Run B's noise level must be a number from 0 to 1, not \"{value}\".")
                })?
        }
        other => return Err(format!("Compare cannot change \"{other}\".")),
    }
    if b == *a {
        return Err("Run B would be run A again: give the compared setting another value.".into());
    }
    Ok(Some(b))
}

fn parse_steps(text: &str) -> Result<usize, String> {
    text.trim()
        .parse::<usize>()
        .ok()
        .filter(|steps| (1..=MAX_STEPS).contains(steps))
        .ok_or_else(|| {
            format!("Steps must be a whole number from 1 to {MAX_STEPS}, not \"{text}\".")
        })
}

fn parse_guidance(text: &str) -> Result<f32, String> {
    text.trim()
        .parse::<f32>()
        .ok()
        .filter(|scale| (1.0..=MAX_GUIDANCE).contains(scale))
        .ok_or_else(|| {
            format!("Guidance must be a number from 1 to {MAX_GUIDANCE}, not \"{text}\".")
        })
}

/// A run's title when comparing: the compared setting's value in it.
fn describe(run: &RunSpec, other: &RunSpec) -> String {
    if run.key.steps != other.key.steps {
        format!("{} steps", run.key.steps)
    } else if run.key.cfg_scale != other.key.cfg_scale {
        match run.key.cfg_scale {
            Some(scale) => format!("guidance {scale}"),
            None => "the model's guidance".into(),
        }
    } else if run.key.prompt != other.key.prompt {
        if run.key.prompt.is_empty() {
            "no prompt".into()
        } else {
            format!("“{}”", run.key.prompt)
        }
    } else {
        format!("noise level {:.2}", run.t)
    }
}

fn run_name(run: usize) -> &'static str {
    match run {
        0 => "",
        _ => " (run B)",
    }
}

fn select_value(id: &str) -> String {
    dom::element::<HtmlSelectElement>(id)
        .map(|select| select.value())
        .unwrap_or_default()
}

fn noise_level() -> f64 {
    dom::element::<HtmlInputElement>("vis-noise")
        .map(|slider| slider.value_as_number())
        .ok()
        .filter(|t| (0.0..=1.0).contains(t))
        .unwrap_or(1.0)
}

fn show_noise_value(t: f64) {
    if let Ok(value) = dom::element::<HtmlElement>("vis-noise-value") {
        value.set_text_content(Some(&format!("t = {t:.2}")));
    }
}

fn read_number(id: &str) -> Option<usize> {
    dom::element::<HtmlInputElement>(id)
        .ok()?
        .value()
        .parse()
        .ok()
}

fn set_value(id: &str, value: &str) {
    if let Ok(input) = dom::element::<HtmlInputElement>(id) {
        input.set_value(value);
    } else if let Ok(select) = dom::element::<HtmlSelectElement>(id) {
        select.set_value(value);
    }
}

fn step_text(shown: usize, computed: usize, t: f64) -> String {
    if shown == 0 {
        format!("start of {} steps (t = {t:.2})", computed - 1)
    } else {
        format!("step {shown} of {} (t = {t:.2})", computed - 1)
    }
}

/// `data-run` on the section: "none", "noising", "idle", "restoring" or
/// "done", for styles and tests.
fn set_run_state(run: &str) {
    if let Ok(section) = dom::element::<HtmlElement>("visualize") {
        let _ = section.set_attribute("data-run", run);
    }
}

fn set_status(text: &str) {
    if let Ok(status) = dom::element::<HtmlElement>("vis-status") {
        status.set_text_content(Some(text));
    }
}
