//! CI's regression floors against generators whose quality is known: a model that draws every
//! prompt as the training data does passes; one with swapped colours, one that ignores the
//! prompt, one that gives noise (as random weights do), one that draws nothing and one that
//! draws every shape as a circle (right colour, place and background) all fail.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sculpt_eval::adherence::{self, Summary};
use sculpt_eval::generator::Generator;
use sculpt_eval::image::RgbImage;
use sculpt_eval::prompts::{self, Prompt};
use sculpt_eval::regression::{self, judge};
use sculpt_eval::render::{Placed, draw};
use sculpt_eval::vocab::{COLOURS, Colour, SIZES, Shape};

enum Fault {
    None,
    /// Every colour drawn as the next one in the palette.
    SwappedColours,
    /// Always the first prompt's picture.
    IgnoresPrompt,
    Noise,
    /// Only the background.
    Blank,
    /// Every shape drawn as a circle: the shapes lost, everything else right.
    Blobs,
}

struct Synthetic {
    prompts: Vec<Prompt>,
    fault: Fault,
}

impl Generator for Synthetic {
    fn describe(&self) -> String {
        "synthetic".into()
    }

    fn default_steps(&self) -> usize {
        regression::STEPS
    }

    /// A perfect autoencoder (the regression subset never asks).
    fn round_trip(&mut self, image: &RgbImage) -> anyhow::Result<RgbImage> {
        Ok(image.clone())
    }

    fn generate(&mut self, prompt: &str, seed: u64, _steps: usize) -> anyhow::Result<RgbImage> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let index = match self.fault {
            Fault::IgnoresPrompt => 0,
            _ => self.prompts.iter().position(|p| p.text == prompt).unwrap(),
        };
        let e = self.prompts[index].expected;
        // Where the prompt leaves the background unsaid, any other colour than the shape's.
        let background = e
            .background
            .unwrap_or(Colour((e.colour.0 + COLOURS.len() / 2) % COLOURS.len()));
        let mut colour = e.colour;
        if let Fault::SwappedColours = self.fault {
            colour = Colour((colour.0 + 1) % COLOURS.len());
        }
        let size = e.size.unwrap_or(SIZES[rng.random_range(0..2)]);
        let shape = match self.fault {
            Fault::Blobs => Shape::Circle,
            _ => e.shape,
        };
        let placed = Placed::jittered(shape, colour, e.position, size, &mut rng);
        Ok(match self.fault {
            Fault::Noise => {
                let mut image = RgbImage::filled(64, 64, [0; 3]);
                for p in &mut image.pixels {
                    *p = [rng.random(), rng.random(), rng.random()];
                }
                image
            }
            Fault::Blank => draw(background, &[], 64),
            _ => draw(background, &[placed], 64),
        })
    }
}

fn subset_summary(fault: Fault) -> Summary {
    let prompts = prompts::procedural(regression::PROMPTS, regression::PROMPT_SEED);
    let mut generator = Synthetic {
        prompts: prompts.clone(),
        fault,
    };
    let outcomes = adherence::run(
        &mut generator,
        &prompts,
        regression::STEPS,
        regression::FIRST_SEED,
        |_, _| {},
    )
    .unwrap();
    Summary::of(&outcomes)
}

#[test]
fn a_faithful_model_passes() {
    let summary = subset_summary(Fault::None);
    assert_eq!(summary.adheres, regression::PROMPTS);
    assert_eq!(judge(&summary), Ok(()));
}

#[test]
fn broken_models_fail() {
    for (name, fault, reason) in [
        ("swapped colours", Fault::SwappedColours, "colour"),
        ("prompt ignored", Fault::IgnoresPrompt, "position"),
        ("noise", Fault::Noise, "adherence"),
        ("blank", Fault::Blank, "colour"),
        ("shapes lost", Fault::Blobs, "adherence"),
    ] {
        let summary = subset_summary(fault);
        match judge(&summary) {
            Ok(()) => panic!("{name}: {summary:?} passed"),
            Err(why) => assert!(why.contains(reason), "{name}: failed for {why}"),
        }
    }
}
