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
mod controls;
mod form;
mod inside;
mod schedule_plot;
mod scrubbing;
mod sketch;
mod timeline;

use std::{cell::RefCell, rc::Rc};

use wasm_bindgen::JsCast;
use web_sys::{Event, HtmlButtonElement, HtmlElement, HtmlInputElement};

use crate::{
    page::{
        dom,
        handoff::Handoff,
        model_picker, nav,
        session::{Busy, Session},
        start_image::{self as source, Sample, SourceImage},
    },
    protocol::{
        BUILT_IN_MODEL, GenerateSettings, PageMessage, Preview, RUN_HISTORY_LIMIT, RunFrame,
        RunImage, RunSettings, ShowLatent, StoredModel, ToEngine,
    },
};
use address::View;
use form::{
    noise_level, read_number, read_spec, run_name, select_value, set_run_state, set_status,
    set_value,
};
use timeline::{Canvas, Canvases, Pictures, Timeline};

/// The size the original image is shown at.
const PREVIEW: usize = 64;
/// The Size list's first entry: an address names the size only when it
/// differs.
const DEFAULT_SIZE: usize = 64;
const MAX_STEPS: usize = 50;
const MAX_GUIDANCE: f32 = 20.0;
/// The time between two points while playing.
const PLAY_MS: u32 = 400;

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
    /// What the Prediction picture shows: the velocity or the implied noise.
    prediction: ShowLatent,
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
        on("vis-seed", "change", |v, _| v.noise_source_changed())?;
        on("vis-prompt", "change", |v, _| v.write_address())?;
        on("vis-steps", "change", |v, _| v.write_address())?;
        on("vis-guidance", "change", |v, _| v.write_address())?;
        on("vis-model", "change", |v, _| v.noise_source_changed())?;
        on("vis-size", "change", |v, _| v.noise_source_changed())?;
        on("vis-compare", "change", |v, _| v.write_address())?;
        on("vis-prediction-kind", "change", |v, _| v.write_address())?;
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
        if let Err(message) = model_picker::offer("vis-model", models) {
            dom::show_error(&message);
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
                        // Every step's pictures are kept to be inspected
                        // and scrubbed: each is decoded in full.
                        preview: Preview::Full,
                    },
                    history: spec.key.steps.min(RUN_HISTORY_LIMIT),
                    // All three pictures of each step.
                    frames: vec![
                        ShowLatent::Current,
                        ShowLatent::PredictedClean,
                        spec.key.prediction,
                    ],
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
                .filter(|&size| size != DEFAULT_SIZE),
            prompt: Some(text("vis-prompt")),
            seed: text("vis-seed").trim().parse().ok(),
            t: Some(noise_level()),
            steps: text("vis-steps").trim().parse().ok(),
            guidance: text("vis-guidance").trim().parse().ok(),
            prediction: Some(select_value("vis-prediction-kind")).filter(|kind| kind == "noise"),
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
