//! The seed: a typed seed is the one used. "New seed each time" (ticked on
//! a first visit) draws a fresh one for every Generate; typing a seed
//! unticks it; the dice button puts a fresh one in the field; an empty field
//! asks for a random one. The seed used is always left in the field.

use web_sys::{Event, HtmlInputElement};

use crate::page::dom;

pub fn wire() -> Result<(), String> {
    dom::listen("seed", "input", |_: Event| {
        if let Ok(each_time) = new_each_time() {
            each_time.set_checked(false);
        }
    })?;
    dom::listen("random-seed", "click", |_: Event| {
        if let (Ok(field), Ok(each_time)) = (field(), new_each_time()) {
            field.set_value(&random().to_string());
            each_time.set_checked(false);
        }
    })
}

/// The seed for the next image, written into the field.
pub fn next() -> Result<u32, String> {
    let field = field()?;
    let text = field.value();
    if new_each_time()?.checked() || text.trim().is_empty() {
        let seed = random();
        field.set_value(&seed.to_string());
        return Ok(seed);
    }
    text.trim().parse::<u32>().map_err(|_| {
        format!(
            "Seed must be a whole number from 0 to {}, not \"{text}\" (or leave it empty for a random one).",
            u32::MAX
        )
    })
}

fn random() -> u32 {
    (js_sys::Math::random() * 4_294_967_296.0) as u32
}

fn field() -> Result<HtmlInputElement, String> {
    dom::element("seed")
}

fn new_each_time() -> Result<HtmlInputElement, String> {
    dom::element("new-seed")
}
