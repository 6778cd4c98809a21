//! The visualizer's fields, read and checked (run A's settings, and run B's
//! when comparing), and the few lines of text it sets.

use web_sys::{HtmlElement, HtmlInputElement, HtmlSelectElement};

use super::{MAX_GUIDANCE, MAX_STEPS, RunKey, RunSpec};
use crate::{
    page::dom,
    protocol::{BUILT_IN_MODEL, ShowLatent},
};

/// Run A as the form says: the Prompt, Seed, Steps and Guidance fields,
/// checked, and the noise level.
pub(super) fn read_spec(image: u64) -> Result<RunSpec, String> {
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
            prediction: match select_value("vis-prediction-kind").as_str() {
                "noise" => ShowLatent::PredictedNoise,
                _ => ShowLatent::Velocity,
            },
        },
        t: noise_level(),
    })
}

/// Run B, when Compare names a setting: run A with that one changed.
pub(super) fn compared(a: &RunSpec) -> Result<Option<RunSpec>, String> {
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
pub(super) fn describe(run: &RunSpec, other: &RunSpec) -> String {
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

pub(super) fn run_name(run: usize) -> &'static str {
    match run {
        0 => "",
        _ => " (run B)",
    }
}

pub(super) fn select_value(id: &str) -> String {
    dom::element::<HtmlSelectElement>(id)
        .map(|select| select.value())
        .unwrap_or_default()
}

pub(super) fn noise_level() -> f64 {
    dom::element::<HtmlInputElement>("vis-noise")
        .map(|slider| slider.value_as_number())
        .ok()
        .filter(|t| (0.0..=1.0).contains(t))
        .unwrap_or(1.0)
}

pub(super) fn show_noise_value(t: f64) {
    if let Ok(value) = dom::element::<HtmlElement>("vis-noise-value") {
        value.set_text_content(Some(&format!("t = {t:.2}")));
    }
}

pub(super) fn read_number(id: &str) -> Option<usize> {
    dom::element::<HtmlInputElement>(id)
        .ok()?
        .value()
        .parse()
        .ok()
}

pub(super) fn set_value(id: &str, value: &str) {
    if let Ok(input) = dom::element::<HtmlInputElement>(id) {
        input.set_value(value);
    } else if let Ok(select) = dom::element::<HtmlSelectElement>(id) {
        select.set_value(value);
    }
}

pub(super) fn step_text(shown: usize, computed: usize, t: f64) -> String {
    if shown == 0 {
        format!("start of {} steps (t = {t:.2})", computed - 1)
    } else {
        format!("step {shown} of {} (t = {t:.2})", computed - 1)
    }
}

/// `data-run` on the section: "none", "noising", "idle", "restoring" or
/// "done", for styles and tests.
pub(super) fn set_run_state(run: &str) {
    if let Ok(section) = dom::element::<HtmlElement>("visualize") {
        let _ = section.set_attribute("data-run", run);
    }
}

pub(super) fn set_status(text: &str) {
    if let Ok(status) = dom::element::<HtmlElement>("vis-status") {
        status.set_text_content(Some(text));
    }
}
