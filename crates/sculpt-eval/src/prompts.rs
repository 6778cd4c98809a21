//! Seeded procedural prompts in the training captions' words and phrasings (data.py's
//! `random_scene` with one shape, `_shape_phrase` and `caption`), so that the checker can verify
//! every attribute a prompt names.

use rand::{Rng, SeedableRng, seq::IndexedRandom};
use rand_chacha::ChaCha8Rng;

use crate::checker::Expected;
use crate::vocab::{COLOURS, Colour, POSITIONS, Position, SHAPES, SIZES, Size};

#[derive(Clone, Debug, PartialEq)]
pub struct Prompt {
    pub text: String,
    pub expected: Expected,
}

/// `count` prompts drawn from `seed`; the same seed gives the same prompts on every machine.
pub fn procedural(count: usize, seed: u64) -> Vec<Prompt> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..count).map(|_| one(&mut rng)).collect()
}

fn one(rng: &mut impl Rng) -> Prompt {
    let background = Colour(rng.random_range(0..COLOURS.len()));
    let others: Vec<Colour> = Colour::all().filter(|&c| c != background).collect();
    let colour = *others.choose(rng).expect("eleven colours");
    let position = Position(rng.random_range(0..POSITIONS.len()));
    let size = *SIZES.choose(rng).expect("two sizes");
    let shape = *SHAPES.choose(rng).expect("four shapes");
    let style = rng.random_range(0..4);
    let say_size = rng.random::<f64>() >= 0.3;
    let phrase = shape_phrase(
        rng,
        shape.name(),
        colour.name(),
        position,
        say_size.then_some(size),
        style,
    );
    let say_background = rng.random::<f64>() >= 0.1;
    let text = if say_background {
        let bg = background.name();
        match rng.random_range(0..3) {
            0 => format!("{phrase} on a {bg} background"),
            1 => format!("{phrase}, on {bg}"),
            _ => format!("{phrase}, {bg} background"),
        }
    } else {
        phrase
    };
    Prompt {
        text,
        expected: Expected {
            shape,
            colour,
            position,
            size: say_size.then_some(size),
            background: say_background.then_some(background),
        },
    }
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// data.py's `_shape_phrase`: one of four phrasings of a shape, size optional.
fn shape_phrase(
    rng: &mut impl Rng,
    shape: &str,
    colour: &str,
    position: Position,
    size: Option<Size>,
    style: u32,
) -> String {
    let name = position.name();
    let centre = if name == "centre" {
        *["centre", "center", "middle"].choose(rng).expect("three")
    } else {
        name
    };
    let size = size.map(Size::name);
    match style {
        0 => {
            let preposition = if name == "centre" || name.contains(' ') {
                "in the "
            } else {
                "at the "
            };
            let adjectives = match size {
                Some(size) => format!("{size} {colour}"),
                None => colour.to_string(),
            };
            format!(
                "{} {adjectives} {shape} {preposition}{centre}",
                article(&adjectives)
            )
        }
        1 => match size {
            Some(size) => format!("{size} {colour} {shape}, {centre}"),
            None => format!("{colour} {shape}, {centre}"),
        },
        2 => {
            let preposition = *["at", "in the"].choose(rng).expect("two");
            let suffix = size.map(|s| format!(" ({s})")).unwrap_or_default();
            format!("{colour} {shape} {preposition} {centre}{suffix}")
        }
        _ => {
            let size = size.map(|s| format!("{s}, ")).unwrap_or_default();
            format!("{} {colour} {shape}, {size}{centre}", article(colour))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_prompts_other_seed_others() {
        assert_eq!(procedural(20, 7), procedural(20, 7));
        assert_ne!(procedural(20, 7), procedural(20, 8));
    }

    /// The phrases of captions MODEL.md quotes from the training data.
    #[test]
    fn phrasings_are_the_training_captions() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let top_left = Position(0);
        let bottom_right = Position(8);
        let top = Position(1);
        assert_eq!(
            shape_phrase(&mut rng, "square", "green", top_left, Some(Size::Large), 0),
            "a large green square in the top left"
        );
        assert_eq!(
            shape_phrase(
                &mut rng,
                "star",
                "yellow",
                bottom_right,
                Some(Size::Small),
                1
            ),
            "small yellow star, bottom right"
        );
        assert_eq!(
            shape_phrase(&mut rng, "circle", "orange", top, None, 0),
            "an orange circle at the top"
        );
        let styled = shape_phrase(&mut rng, "triangle", "blue", top, Some(Size::Large), 2);
        assert!(
            [
                "blue triangle at top (large)",
                "blue triangle in the top (large)"
            ]
            .contains(&styled.as_str()),
            "{styled}"
        );
        assert_eq!(
            shape_phrase(&mut rng, "star", "red", bottom_right, Some(Size::Small), 3),
            "a red star, small, bottom right"
        );
        let centre = shape_phrase(&mut rng, "star", "red", Position(4), None, 1);
        assert!(
            ["red star, centre", "red star, center", "red star, middle"].contains(&centre.as_str()),
            "{centre}"
        );
    }

    #[test]
    fn every_prompt_names_what_it_expects() {
        for prompt in procedural(500, 3) {
            let e = prompt.expected;
            let text = &prompt.text;
            assert!(text.contains(e.shape.name()), "{text}");
            assert!(text.contains(e.colour.name()), "{text}");
            assert_ne!(Some(e.colour), e.background, "{text}");
            let place = e.position.name();
            if place == "centre" {
                assert!(
                    ["centre", "center", "middle"]
                        .iter()
                        .any(|w| text.contains(w))
                );
            } else {
                assert!(text.contains(place), "{text}");
            }
            assert_eq!(
                e.size.is_some(),
                SIZES.iter().any(|s| text.contains(s.name()))
            );
            if let Some(bg) = e.background {
                assert!(
                    text.ends_with(&format!("{} background", bg.name()))
                        || text.ends_with(&format!("on {}", bg.name())),
                    "{text}"
                );
            }
        }
    }
}
