//! "Look inside": the latent of the point shown, each channel a tile in
//! false colour, and the path the noisy latent takes through the run,
//! projected onto the plane that shows most of it
//! ([`crate::trajectory`]), with how much it bends.

use wasm_bindgen::JsCast;
use web_sys::{CanvasRenderingContext2d, Element, HtmlCanvasElement, HtmlDetailsElement};

use super::timeline::{Latent, Timeline, owned_image};
use crate::{page::dom, trajectory};

const SIZE: f64 = 240.0;
const MARGIN: f64 = 14.0;

/// Whether the reader has opened the panel (nothing is drawn while shut).
pub fn open() -> bool {
    dom::element::<HtmlDetailsElement>("vis-inside").is_ok_and(|details| details.open())
}

/// Draws the latents of the point shown.
pub fn draw_latents(noisy: Option<&Latent>, clean: Option<&Latent>) {
    for (id, latent) in [("vis-latent-noisy", noisy), ("vis-latent-clean", clean)] {
        if let Ok(canvas) = dom::element::<HtmlCanvasElement>(id) {
            draw_tiles(&canvas, latent);
        }
    }
}

/// Each channel a tile, in a square-ish grid with a one-pixel gap, red
/// above zero and blue below, scaled by the largest magnitude in the latent.
fn draw_tiles(canvas: &HtmlCanvasElement, latent: Option<&Latent>) {
    let Some(context) = canvas
        .get_context("2d")
        .ok()
        .flatten()
        .and_then(|context| context.dyn_into::<CanvasRenderingContext2d>().ok())
    else {
        return;
    };
    let Some(latent) = latent else {
        context.clear_rect(
            0.0,
            0.0,
            f64::from(canvas.width()),
            f64::from(canvas.height()),
        );
        let _ = canvas.set_attribute("data-empty", "");
        return;
    };
    let columns = (latent.channels as f64).sqrt().ceil().max(1.0) as usize;
    let rows = latent.channels.div_ceil(columns);
    let (width, height) = (
        columns * (latent.width + 1) - 1,
        rows * (latent.height + 1) - 1,
    );
    canvas.set_width(width as u32);
    canvas.set_height(height as u32);
    let largest = latent
        .values
        .iter()
        .fold(0.0_f32, |largest, value| largest.max(value.abs()))
        .max(f32::MIN_POSITIVE);
    let mut rgba = vec![0_u8; width * height * 4];
    for channel in 0..latent.channels {
        let (left, top) = (
            (channel % columns) * (latent.width + 1),
            (channel / columns) * (latent.height + 1),
        );
        for y in 0..latent.height {
            for x in 0..latent.width {
                let value = latent.values[(channel * latent.height + y) * latent.width + x];
                let share = (value / largest).clamp(-1.0, 1.0);
                let fade = (255.0 * (1.0 - share.abs())) as u8;
                let colour = if share >= 0.0 {
                    [255, fade, fade]
                } else {
                    [fade, fade, 255]
                };
                let at = ((top + y) * width + left + x) * 4;
                rgba[at..at + 3].copy_from_slice(&colour);
                rgba[at + 3] = 255;
            }
        }
    }
    if let Ok(image) = owned_image(&rgba, width, height) {
        let _ = context.put_image_data(&image, 0.0, 0.0);
        let _ = canvas.remove_attribute("data-empty");
    }
}

/// The noisy latents' paths of the runs, projected together, with point
/// `current` of run `reference` marked.
pub struct Paths {
    projection: trajectory::Projection,
    /// Where each run's points start in the projection, and how many.
    runs: Vec<(usize, usize)>,
    bends: Vec<f64>,
}

impl Paths {
    /// Projects the runs' noisy latents (runs without latents are left out).
    pub fn of(runs: &[Timeline]) -> Option<Self> {
        let mut points: Vec<&[f32]> = Vec::new();
        let mut spans = Vec::new();
        let mut bends = Vec::new();
        for run in runs {
            let latents: Vec<&[f32]> = run
                .points()
                .iter()
                .filter_map(|point| point.noisy_latent.as_ref())
                .map(|latent| latent.values.as_slice())
                .collect();
            if latents.len() != run.len() || latents.is_empty() {
                continue;
            }
            spans.push((points.len(), latents.len()));
            bends.push(trajectory::bend(&latents));
            points.extend(latents);
        }
        if spans.is_empty() {
            return None;
        }
        Some(Self {
            projection: trajectory::project(&points),
            runs: spans,
            bends,
        })
    }

    /// How many points of all runs the projection holds (the cache's key).
    pub fn len(&self) -> usize {
        self.projection.points.len()
    }

    /// Draws the paths with point `current` of run `run` marked.
    pub fn draw(&self, run: usize, current: usize) {
        let Ok(svg) = dom::element::<Element>("vis-path") else {
            return;
        };
        svg.set_inner_html("");
        let points = &self.projection.points;
        let (mut low, mut high) = ([f64::MAX; 2], [f64::MIN; 2]);
        for point in points {
            for axis in 0..2 {
                low[axis] = low[axis].min(point[axis]);
                high[axis] = high[axis].max(point[axis]);
            }
        }
        // One scale for both axes, so that a straight path looks straight.
        let span = (high[0] - low[0])
            .max(high[1] - low[1])
            .max(f64::MIN_POSITIVE);
        let scale = (SIZE - 2.0 * MARGIN) / span;
        // Centred in the square.
        let centre = |axis: usize| (SIZE - 2.0 * MARGIN - (high[axis] - low[axis]) * scale) / 2.0;
        let (dx, dy) = (centre(0), centre(1));
        let place = |point: [f64; 2]| {
            (
                MARGIN + dx + (point[0] - low[0]) * scale,
                SIZE - MARGIN - dy - (point[1] - low[1]) * scale,
            )
        };
        for (index, &(start, count)) in self.runs.iter().enumerate() {
            let class = if index == 0 { "a" } else { "b" };
            let line: Vec<String> = points[start..start + count]
                .iter()
                .map(|&point| {
                    let (x, y) = place(point);
                    format!("{x:.1},{y:.1}")
                })
                .collect();
            dom::add_svg(
                &svg,
                "polyline",
                &[("points", &line.join(" ")), ("class", class)],
            );
            for (step, &point) in points[start..start + count].iter().enumerate() {
                let (x, y) = place(point);
                let marked = index == run && step == current;
                let dot = dom::add_svg(
                    &svg,
                    "circle",
                    &[
                        ("cx", &format!("{x:.1}")),
                        ("cy", &format!("{y:.1}")),
                        ("r", if marked { "5" } else { "2.5" }),
                        ("class", if marked { "current" } else { class }),
                        ("data-step", &step.to_string()),
                    ],
                );
                if let Some(title) = dot.and_then(|dot| dom::add_svg(&dot, "title", &[])) {
                    title.set_text_content(Some(&format!("step {step}")));
                }
            }
        }
        if let Some(&(start, count)) = self.runs.first() {
            for (point, label) in [
                (points[start], "noise"),
                (points[start + count - 1], "image"),
            ] {
                let (x, y) = place(point);
                let text = dom::add_svg(
                    &svg,
                    "text",
                    &[
                        ("x", &format!("{x:.1}")),
                        ("y", &format!("{:.1}", y - 7.0)),
                        ("text-anchor", "middle"),
                    ],
                );
                if let Some(text) = text {
                    text.set_text_content(Some(label));
                }
            }
        }
        let bends: Vec<String> = self
            .bends
            .iter()
            .map(|bend| format!("{:.0}%", (bend - 1.0) * 100.0))
            .collect();
        let shown = (self.projection.explained[0] + self.projection.explained[1]) * 100.0;
        let text = format!(
            "From noise (first point) to image (last), the latent's path is {} longer than \
             the straight line between its ends ({}): rectified flow learns nearly straight \
             paths. This view shows {shown:.0}% of how the points spread.",
            bends.join(" and "),
            if self.bends.len() > 1 {
                "run A, then run B"
            } else {
                "0% would be perfectly straight"
            },
        );
        if let Ok(note) = dom::element::<Element>("vis-path-note") {
            note.set_text_content(Some(&text));
        }
        let _ = svg.set_attribute(
            "data-bend",
            &self
                .bends
                .iter()
                .map(|bend| format!("{bend:.4}"))
                .collect::<Vec<_>>()
                .join(" "),
        );
    }
}
