//! The schedule, drawn: the time t the model is evaluated at for each point
//! of the run (FLUX's shifted schedule: more steps where there is much
//! noise), and the signal-to-noise ratio there, ((1 − t) / t)² on a log
//! scale. Each point is a target the reader clicks to go to that step.
//! When two runs are compared, the other run's schedule is drawn too, on
//! the same axes of t against the share of its steps.

use web_sys::Element;

use crate::page::dom;

const WIDTH: f64 = 320.0;
const HEIGHT: f64 = 120.0;
const LEFT: f64 = 34.0;
const RIGHT: f64 = 40.0;
const TOP: f64 = 8.0;
const BOTTOM: f64 = 22.0;
/// The log₁₀ SNR range drawn; beyond it the curve is clipped.
const SNR_RANGE: (f64, f64) = (-3.0, 3.0);

/// Draws `schedule` (its times from the start to 0) on the plot, with
/// `computed` points computed so far and `current` marked; `other`, a
/// compared run's schedule, as a line.
pub fn draw(schedule: &[f64], computed: usize, current: Option<usize>, other: Option<&[f64]>) {
    let Ok(svg) = dom::element::<Element>("vis-schedule") else {
        return;
    };
    svg.set_inner_html("");
    axes(&svg);
    if schedule.is_empty() {
        return;
    }
    let x_in = |schedule: &[f64], index: usize| {
        let span = (schedule.len() - 1).max(1) as f64;
        LEFT + (WIDTH - LEFT - RIGHT) * index as f64 / span
    };
    let x = |index: usize| x_in(schedule, index);
    let y_of_t = |t: f64| TOP + (HEIGHT - TOP - BOTTOM) * (1.0 - t);
    let y_of_snr = |t: f64| {
        let log_snr = (2.0 * ((1.0 - t) / t).log10()).clamp(SNR_RANGE.0, SNR_RANGE.1);
        let share = (log_snr - SNR_RANGE.0) / (SNR_RANGE.1 - SNR_RANGE.0);
        TOP + (HEIGHT - TOP - BOTTOM) * (1.0 - share)
    };
    let line = |points: Vec<(f64, f64)>, class: &str| {
        let text: Vec<String> = points
            .iter()
            .map(|(x, y)| format!("{x:.1},{y:.1}"))
            .collect();
        dom::add_svg(
            &svg,
            "polyline",
            &[("points", &text.join(" ")), ("class", class)],
        );
    };
    if let Some(other) = other.filter(|other| !other.is_empty()) {
        line(
            (0..other.len())
                .map(|i| (x_in(other, i), y_of_t(other[i])))
                .collect(),
            "t-line other",
        );
    }
    line(
        (0..schedule.len())
            .map(|i| (x(i), y_of_t(schedule[i])))
            .collect(),
        "t-line",
    );
    line(
        (0..schedule.len())
            .map(|i| (x(i), y_of_snr(schedule[i])))
            .collect(),
        "snr-line",
    );
    for (index, &t) in schedule.iter().enumerate() {
        let mut class = String::from("point");
        if index < computed {
            class.push_str(" computed");
        }
        if current == Some(index) {
            class.push_str(" current");
        }
        let point = dom::add_svg(
            &svg,
            "circle",
            &[
                ("cx", &format!("{:.1}", x(index))),
                ("cy", &format!("{:.1}", y_of_t(t))),
                ("r", if current == Some(index) { "5" } else { "3.5" }),
                ("class", &class),
                ("data-step", &index.to_string()),
            ],
        );
        if let Some(point) = point {
            let title = dom::add_svg(&point, "title", &[]);
            if let Some(title) = title {
                title.set_text_content(Some(&format!("step {index}: t = {t:.3}")));
            }
        }
    }
}

fn axes(svg: &Element) {
    let bottom = HEIGHT - BOTTOM;
    dom::add_svg(
        svg,
        "path",
        &[
            (
                "d",
                &format!("M{LEFT},{TOP} V{bottom} H{} V{TOP}", WIDTH - RIGHT),
            ),
            ("class", "axes"),
        ],
    );
    for (text, x, y, anchor) in [
        ("t = 1", LEFT - 3.0, TOP + 4.0, "end"),
        ("0", LEFT - 3.0, bottom, "end"),
        ("SNR 10³", WIDTH - RIGHT + 3.0, TOP + 4.0, "start"),
        ("10⁻³", WIDTH - RIGHT + 3.0, bottom, "start"),
        ("start", LEFT, HEIGHT - 6.0, "start"),
        ("steps →", WIDTH - RIGHT, HEIGHT - 6.0, "end"),
    ] {
        if let Some(label) = dom::add_svg(
            svg,
            "text",
            &[
                ("x", &x.to_string()),
                ("y", &y.to_string()),
                ("text-anchor", anchor),
            ],
        ) {
            label.set_text_content(Some(text));
        }
    }
}
