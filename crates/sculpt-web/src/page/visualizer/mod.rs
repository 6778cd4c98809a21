//! The visualizer (`#/visualize`): the forward and the reverse process of
//! diffusion on one image, live. The Noise level slider shows the image
//! noised to t (the engine mixes the seed's noise into its latent and
//! decodes it; no model runs); Restore runs the model back from that t a
//! step at a time, and every step's noisy image x_t, predicted clean image
//! x̂₀ and prediction come back as pixels, kept in the page ([`timeline`])
//! so that the Step slider, Play and the schedule plot scrub through them
//! with no work for the engine. The view lives in the address
//! ([`address`]), so a link opens it again.
//!
//! It drives the engine's step-level run (`start_run`, `noise_run`,
//! `restart_run`, `step_run`; see [`crate::protocol`]) one request at a
//! time through the page's [`Session`], as every surface does; the shell
//! hands it the replies while it keeps the engine busy.

mod address;
mod schedule_plot;
mod source;
mod timeline;

use std::{cell::RefCell, rc::Rc};

use wasm_bindgen::JsCast;
use web_sys::{
    Event, HtmlButtonElement, HtmlElement, HtmlInputElement, HtmlOptionElement, HtmlSelectElement,
};

use crate::{
    page::{
        dom, nav,
        session::{Busy, Session},
    },
    protocol::{
        BUILT_IN_MODEL, GenerateSettings, PageMessage, RUN_HISTORY_LIMIT, RunFrame, RunImage,
        RunSettings, ShowLatent, ToEngine,
    },
};
use address::View;
use source::{Sample, SourceImage};
use timeline::{Canvas, Canvases, Pictures, Timeline};

/// The built-in model's size: the size a visualizer run has.
const SIZE: usize = 64;
const MAX_STEPS: usize = 50;
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
    canvases: Canvases,
    original: Canvas,
    state: RefCell<State>,
}

/// What the engine's run was started with: a change of any of them needs a
/// new run.
#[derive(Clone, Debug, PartialEq)]
struct RunKey {
    /// Counts the images chosen, so the same sample chosen again is new.
    image: u64,
    prompt: String,
    seed: u32,
    steps: usize,
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
    timeline: Timeline,
    schedule: Vec<f64>,
    /// The step a link asked to show, once the restore reaches it.
    jump_to: Option<usize>,
    playing: Option<gloo::timers::callback::Interval>,
}

/// A restore in progress.
struct Restore {
    /// The run has been (re)started at the noise level.
    started: bool,
    cancel: bool,
}

impl Visualizer {
    pub fn wire(session: &Rc<Session>) -> Result<Self, String> {
        let visualizer = Visualizer {
            inner: Rc::new(Inner {
                session: Rc::clone(session),
                canvases: Canvases::find()?,
                original: Canvas::find("vis-original")?,
                state: RefCell::new(State::default()),
            }),
        };
        visualizer.wire_controls()?;
        let watcher = visualizer.clone();
        session.watch(move |busy| watcher.on_busy(busy));
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
        on("vis-restore-form", "submit", |v, event| {
            event.prevent_default();
            v.restore_pressed();
        })?;
        on("vis-step", "input", |v, _| {
            v.stop_playing();
            v.show_point(read_number("vis-step").unwrap_or(0));
        })?;
        on("vis-previous", "click", |v, _| {
            v.stop_playing();
            v.show_point(v.shown().saturating_sub(1));
        })?;
        on("vis-next", "click", |v, _| {
            v.stop_playing();
            v.show_point(v.shown() + 1);
        })?;
        on("vis-play", "click", |v, _| v.play_pressed())?;
        on("vis-schedule", "click", |v, event| {
            let step = event
                .target()
                .and_then(|target| target.dyn_into::<web_sys::Element>().ok())
                .and_then(|point| point.get_attribute("data-step"))
                .and_then(|step| step.parse().ok());
            if let Some(step) = step {
                v.stop_playing();
                v.show_point(step);
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
        self.inner.canvases.draw_noisy(&pictures.noisy);
        mark_noisy(t);
        let continue_restore = {
            let mut state = self.inner.state.borrow_mut();
            if let Some(key) = state.starting.take() {
                state.run = Some(key);
            }
            state.schedule = schedule;
            match state.restore.as_mut() {
                Some(restore) => {
                    restore.started = true;
                    state.timeline.clear();
                    state.timeline.push(pictures);
                    true
                }
                None => false,
            }
        };
        if !warnings.is_empty() {
            set_status(&warnings.join(" "));
        }
        if continue_restore {
            self.show_point(0);
            if self.inner.state.borrow().schedule.len() > 1 {
                self.inner.session.follow(ToEngine::StepRun);
            } else {
                self.finish("Nothing to restore at noise level 0: the image is already clean.");
            }
        } else {
            self.done_with_engine();
        }
    }

    /// A step of the restore came back.
    pub fn on_step(&self, index: usize, count: usize, frames: &[RunFrame]) {
        let t = self
            .inner
            .state
            .borrow()
            .schedule
            .get(index + 1)
            .copied()
            .unwrap_or(0.0);
        let pictures = match Pictures::of(t, frames) {
            Ok(pictures) => pictures,
            Err(message) => return self.fail(&message),
        };
        let cancel = {
            let mut state = self.inner.state.borrow_mut();
            state.timeline.push(pictures);
            state.restore.as_ref().is_none_or(|restore| restore.cancel)
        };
        let _ = self
            .section()
            .map(|section| section.set_attribute("data-steps-drawn", &(index + 1).to_string()));
        self.show_point(index + 1);
        if index + 1 >= count {
            self.finish(&format!(
                "Restored in {count} steps. Scrub through them with Step."
            ));
        } else if cancel {
            self.finish(&format!("Stopped after {} of {count} steps.", index + 1));
        } else {
            set_status(&format!("Step {} of {count} (t = {t:.2})…", index + 1));
            self.inner.session.follow(ToEngine::StepRun);
        }
    }

    /// The forward process's noisy image came back.
    pub fn on_run_drawn(&self, t: f64, frames: &[RunFrame]) {
        match frames.first().map(timeline::image_data) {
            Some(Ok(noisy)) => {
                self.inner.canvases.draw_noisy(&noisy);
                mark_noisy(t);
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
        let settings = match read_settings() {
            Ok(settings) => settings,
            Err(message) => {
                if self.inner.state.borrow_mut().restore.take().is_some() {
                    dom::show_error(&message);
                    self.refresh_controls(Busy::Idle);
                }
                return;
            }
        };
        let t = noise_level();
        let (message, starting) = {
            let mut state = self.inner.state.borrow_mut();
            let Some(image) = &state.image else {
                return;
            };
            let key = RunKey {
                image: state.image_serial,
                prompt: settings.prompt.clone(),
                seed: settings.seed,
                steps: settings.steps,
            };
            let wanted = state.restore.is_some() || state.noise.is_some();
            if state.run.as_ref() != Some(&key) {
                if !wanted {
                    return;
                }
                let message = ToEngine::StartRun(RunSettings {
                    generate: GenerateSettings {
                        model: BUILT_IN_MODEL.into(),
                        prompt: settings.prompt,
                        width: image.width,
                        height: image.height,
                        steps: settings.steps,
                        seed: settings.seed,
                        show: ShowLatent::Current,
                    },
                    history: settings.steps.min(RUN_HISTORY_LIMIT),
                    image: Some(RunImage {
                        width: image.width,
                        height: image.height,
                        rgba: image.rgba.clone(),
                    }),
                    t: Some(t),
                    frames: FRAMES.to_vec(),
                });
                state.noise = None;
                state.starting = Some(key);
                (message, true)
            } else if state
                .restore
                .as_ref()
                .is_some_and(|restore| !restore.started)
            {
                state.noise = None;
                (ToEngine::RestartRun { t }, false)
            } else if let Some(t) = state.noise.take() {
                (ToEngine::NoiseRun { t }, false)
            } else {
                return;
            }
        };
        if starting {
            self.inner.timeline_cleared();
        }
        let restoring = self.inner.state.borrow().restore.is_some();
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
        let jump_to = {
            let mut state = self.inner.state.borrow_mut();
            state.restore = None;
            state.jump_to.take()
        };
        set_status(message);
        set_run_state("done");
        if let Some(step) = jump_to {
            self.show_point(step);
        }
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
        let computed = state.timeline.len();
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
            state.restore = Some(Restore {
                started: false,
                cancel: false,
            });
        }
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
        match source::sample(&sample, SIZE, SIZE).await {
            Ok(image) => {
                if caption_as_prompt {
                    set_value("vis-prompt", &image.caption);
                }
                self.use_image(image);
            }
            Err(message) => dom::show_error(&message),
        }
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
            match source::own(&file, &file.name(), SIZE, SIZE).await {
                Ok(image) => {
                    set_value("vis-prompt", "");
                    visualizer.use_image(image);
                }
                Err(message) => dom::show_error(&message),
            }
        });
    }

    fn use_image(&self, image: SourceImage) {
        if let Ok(data) = timeline::image_data(&RunFrame {
            show: ShowLatent::Current,
            width: image.width,
            height: image.height,
            rgba: image.rgba.clone(),
        }) {
            self.inner.original.draw(Some(&data));
        }
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

    fn shown(&self) -> usize {
        self.inner.state.borrow().timeline.shown()
    }

    /// Draws point `index` of the computed run (0: the start) from what the
    /// page keeps.
    fn show_point(&self, index: usize) {
        let (shown, computed, t, schedule) = {
            let mut state = self.inner.state.borrow_mut();
            let Some(shown) = state.timeline.show(index, &self.inner.canvases) else {
                return;
            };
            let t = state.timeline.t(shown).unwrap_or(0.0);
            (shown, state.timeline.len(), t, state.schedule.clone())
        };
        mark_noisy(t);
        if let Ok(slider) = dom::element::<HtmlInputElement>("vis-step") {
            slider.set_max(&(computed - 1).to_string());
            slider.set_value(&shown.to_string());
            let _ = slider.set_attribute("aria-valuetext", &step_text(shown, computed, t));
        }
        if let Ok(value) = dom::element::<HtmlElement>("vis-step-value") {
            value.set_text_content(Some(&step_text(shown, computed, t)));
        }
        schedule_plot::draw(&schedule, computed, Some(shown));
        self.refresh_controls(self.inner.session.busy());
        if self.inner.state.borrow().restore.is_none() {
            self.write_address();
        }
    }

    fn play_pressed(&self) {
        if self.inner.state.borrow().playing.is_some() {
            return self.stop_playing();
        }
        let (shown, computed) = {
            let state = self.inner.state.borrow();
            (state.timeline.shown(), state.timeline.len())
        };
        if computed < 2 {
            return;
        }
        // From the start again once at the end.
        if shown + 1 >= computed {
            self.show_point(0);
        }
        let visualizer = self.clone();
        let interval = gloo::timers::callback::Interval::new(PLAY_MS, move || {
            let (shown, computed) = {
                let state = visualizer.inner.state.borrow();
                (state.timeline.shown(), state.timeline.len())
            };
            if shown + 1 >= computed {
                visualizer.stop_playing();
            } else {
                visualizer.show_point(shown + 1);
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
        let step = (state.timeline.len() > 1).then(|| state.timeline.shown());
        drop(state);
        let text = |id: &str| {
            dom::element::<HtmlInputElement>(id)
                .map(|input| input.value())
                .unwrap_or_default()
        };
        View {
            image,
            prompt: Some(text("vis-prompt")),
            seed: text("vis-seed").trim().parse().ok(),
            t: Some(noise_level()),
            steps: text("vis-steps").trim().parse().ok(),
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

impl Inner {
    /// A new run: the old one's pictures no longer belong to it.
    fn timeline_cleared(&self) {
        let mut state = self.state.borrow_mut();
        if state.restore.is_none() {
            state.timeline.clear();
            state.schedule.clear();
        }
        drop(state);
        if let Ok(slider) = dom::element::<HtmlInputElement>("vis-step") {
            slider.set_max("0");
            slider.set_value("0");
        }
        if let Ok(value) = dom::element::<HtmlElement>("vis-step-value") {
            value.set_text_content(Some("no steps yet"));
        }
        schedule_plot::draw(&[], 0, None);
    }
}

/// The Prompt, Seed and Steps fields, checked.
struct Settings {
    prompt: String,
    seed: u32,
    steps: usize,
}

fn read_settings() -> Result<Settings, String> {
    let prompt = dom::element::<HtmlInputElement>("vis-prompt")?.value();
    let seed_text = dom::element::<HtmlInputElement>("vis-seed")?.value();
    let seed = seed_text.trim().parse::<u32>().map_err(|_| {
        format!("Seed must be a whole number from 0 to 4294967295, not \"{seed_text}\".")
    })?;
    let steps_text = dom::element::<HtmlInputElement>("vis-steps")?.value();
    let steps = steps_text
        .trim()
        .parse::<usize>()
        .ok()
        .filter(|steps| (1..=MAX_STEPS).contains(steps))
        .ok_or_else(|| {
            format!("Steps must be a whole number from 1 to {MAX_STEPS}, not \"{steps_text}\".")
        })?;
    Ok(Settings {
        prompt,
        seed,
        steps,
    })
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

/// Says which noise level the Noisy image shows (for tests and styles).
fn mark_noisy(t: f64) {
    if let Ok(canvas) = dom::element::<HtmlElement>("vis-noisy") {
        let _ = canvas.set_attribute("data-t", &format!("{t:.2}"));
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
