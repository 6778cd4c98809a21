//! Prompt adherence: generate each procedural prompt and check the image against it.

use crate::checker::{Analysis, Verdict, analyse, verdict};
use crate::generator::Generator;
use crate::image::RgbImage;
use crate::prompts::Prompt;

pub struct Outcome {
    pub prompt: Prompt,
    pub seed: u64,
    pub image: RgbImage,
    pub analysis: Analysis,
    pub verdict: Verdict,
}

/// Generates every prompt (prompt `i` with seed `first_seed + i`) and checks it; `progress`
/// sees each outcome as it comes.
pub fn run(
    generator: &mut dyn Generator,
    prompts: &[Prompt],
    steps: usize,
    first_seed: u64,
    mut progress: impl FnMut(usize, &Outcome),
) -> anyhow::Result<Vec<Outcome>> {
    let mut outcomes = Vec::with_capacity(prompts.len());
    for (i, prompt) in prompts.iter().enumerate() {
        let seed = first_seed + i as u64;
        let image = generator.generate(&prompt.text, seed, steps)?;
        outcomes.push(check(prompt.clone(), seed, image));
        progress(i, outcomes.last().expect("just pushed"));
    }
    Ok(outcomes)
}

pub fn check(prompt: Prompt, seed: u64, image: RgbImage) -> Outcome {
    let analysis = analyse(&image);
    let verdict = verdict(&analysis, &prompt.expected);
    Outcome {
        prompt,
        seed,
        image,
        analysis,
        verdict,
    }
}

/// Agreement counts over a set of outcomes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub count: usize,
    pub adheres: usize,
    pub colour: usize,
    pub position: usize,
    pub shape: usize,
    /// (agreeing, prompts that name a size).
    pub size: (usize, usize),
    /// (agreeing, prompts that name a background).
    pub background: (usize, usize),
}

impl Summary {
    pub fn of(outcomes: &[Outcome]) -> Self {
        let mut s = Summary::default();
        for v in outcomes.iter().map(|o| o.verdict) {
            s.count += 1;
            s.adheres += usize::from(v.adheres());
            s.colour += usize::from(v.colour);
            s.position += usize::from(v.position);
            s.shape += usize::from(v.shape);
            if let Some(ok) = v.size {
                s.size = (s.size.0 + usize::from(ok), s.size.1 + 1);
            }
            if let Some(ok) = v.background {
                s.background = (s.background.0 + usize::from(ok), s.background.1 + 1);
            }
        }
        s
    }
}

/// "n/N (p%)".
pub fn ratio(n: usize, of: usize) -> String {
    if of == 0 {
        return "–".into();
    }
    format!("{n}/{of} ({:.0}%)", 100.0 * n as f64 / of as f64)
}
