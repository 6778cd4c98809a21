//! Scrubbing a computed run from what the page keeps: the Step slider, the
//! previous and next buttons, Play, the schedule plot's points, both runs
//! of a comparison matched by noise level, and "Look inside".

use web_sys::{HtmlElement, HtmlInputElement};

use super::{
    PLAY_MS, Timeline, Visualizer,
    form::{describe, step_text},
    inside, schedule_plot,
};
use crate::page::dom;

impl Visualizer {
    pub(super) fn position(&self) -> usize {
        self.inner.state.borrow().position
    }

    /// Draws run `run`'s newest point while it computes; run A's moves the
    /// Step slider with it.
    pub(super) fn show_latest(&self, run: usize) {
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
    pub(super) fn show_position(&self, position: usize) {
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
    pub(super) fn look_inside(&self, t: f64) {
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
    pub(super) fn show_compared(&self) {
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

    pub(super) fn play_pressed(&self) {
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

    pub(super) fn stop_playing(&self) {
        let stopped = self.inner.state.borrow_mut().playing.take();
        if stopped.is_some()
            && let Ok(play) = dom::element::<HtmlElement>("vis-play")
        {
            let _ = play.set_attribute("aria-pressed", "false");
            play.set_text_content(Some("Play"));
        }
    }
}
