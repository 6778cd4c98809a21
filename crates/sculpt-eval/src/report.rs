//! The eval's Markdown report.

use std::fmt::Write;

use crate::adherence::{Outcome, Summary, ratio};
use crate::concepts::{ConceptOutcome, TOP};
use crate::diversity::{VISIBLE_FRACTION, VISIBLE_LEVELS, visibly_different};
use crate::vocab::{SHAPES, Size};

/// One adherence run: its step count, outcomes and wall time.
pub struct AdherenceRun {
    pub steps: usize,
    pub outcomes: Vec<Outcome>,
    pub seconds: f64,
}

pub fn adherence_table(runs: &[AdherenceRun]) -> String {
    let mut out = String::from(
        "| steps | prompts | adherence (colour ∧ position ∧ shape) | colour | position | shape | \
         size, where named | background, where named | time |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for run in runs {
        let s = Summary::of(&run.outcomes);
        let _ = writeln!(
            out,
            "| {} | {} | **{}** | {} | {} | {} | {} | {} | {:.0} s |",
            run.steps,
            s.count,
            ratio(s.adheres, s.count),
            ratio(s.colour, s.count),
            ratio(s.position, s.count),
            ratio(s.shape, s.count),
            ratio(s.size.0, s.size.1),
            ratio(s.background.0, s.background.1),
            run.seconds
        );
    }
    out
}

/// Every attribute's agreement in one line of prose.
pub fn summary_line(s: &Summary) -> String {
    format!(
        "adherence {}, colour {}, position {}, shape {}, size {}, background {}",
        ratio(s.adheres, s.count),
        ratio(s.colour, s.count),
        ratio(s.position, s.count),
        ratio(s.shape, s.count),
        ratio(s.size.0, s.size.1),
        ratio(s.background.0, s.background.1),
    )
}

/// How often the shape came out right, by the shape and size asked for
/// ("size unsaid" where the prompt names none): which shapes fail, and at
/// which size.
pub fn shapes_by_kind(outcomes: &[Outcome]) -> String {
    let mut parts = Vec::new();
    for shape in SHAPES {
        for size in [Some(Size::Small), Some(Size::Large), None] {
            let asked: Vec<&Outcome> = outcomes
                .iter()
                .filter(|o| o.prompt.expected.shape == shape && o.prompt.expected.size == size)
                .collect();
            if asked.is_empty() {
                continue;
            }
            let right = asked.iter().filter(|o| o.verdict.shape).count();
            let kind = match size {
                Some(size) => format!("{} {}", size.name(), shape.name()),
                None => format!("{}, size unsaid,", shape.name()),
            };
            parts.push(format!("{kind} {right}/{}", asked.len()));
        }
    }
    parts.join("; ")
}

fn mark(ok: bool) -> &'static str {
    if ok { "✓" } else { "✗" }
}

/// Every prompt: what it asked, what the checker found.
pub fn adherence_details(run: &AdherenceRun) -> String {
    let mut out = format!(
        "| # | prompt ({} steps) | seed | found: colour, position, shape, size, background | ok |\n\
         |---|---|---|---|---|\n",
        run.steps
    );
    for (i, o) in run.outcomes.iter().enumerate() {
        let found = match &o.analysis.main {
            None => format!("no shape; {} background", o.analysis.background.name()),
            Some(m) => format!(
                "{} {}, {} {}, {} {}, {}, {}",
                m.colour.name(),
                mark(o.verdict.colour),
                m.position.name(),
                mark(o.verdict.position),
                m.shape.name(),
                mark(o.verdict.shape),
                m.size.name(),
                o.analysis.background.name()
            ),
        };
        let _ = writeln!(
            out,
            "| {i} | {} | {} | {found} | {} |",
            o.prompt.text,
            o.seed,
            mark(o.verdict.adheres())
        );
    }
    out
}

pub fn diversity_section(
    prompt: &str,
    steps: usize,
    outcomes: &[Outcome],
    fractions: &[f32],
) -> String {
    let distinct = fractions.iter().filter(|&&f| visibly_different(f)).count();
    let adhering = outcomes.iter().filter(|o| o.verdict.adheres()).count();
    let min = fractions.iter().copied().fold(f32::INFINITY, f32::min);
    let mean = fractions.iter().sum::<f32>() / fractions.len().max(1) as f32;
    let seeds: Vec<String> = outcomes.iter().map(|o| o.seed.to_string()).collect();
    let passes = distinct == fractions.len() && adhering == outcomes.len();
    format!(
        "Prompt \"{prompt}\", {steps} steps, seeds {}.\n\n\
         | pairs visibly different | changed pixels per pair: least, mean | seeds that adhere | passes |\n\
         |---|---|---|---|\n\
         | {} | {:.1}%, {:.1}% | {} | {} |\n\n\
         A pair is visibly different when at least {:.0}% of its pixels changed by more than {} of \
         255 levels in a channel; the test passes when every pair is and every seed adheres.\n",
        seeds.join(", "),
        ratio(distinct, fractions.len()),
        100.0 * min,
        100.0 * mean,
        ratio(adhering, outcomes.len()),
        if passes { "yes" } else { "no" },
        100.0 * VISIBLE_FRACTION,
        VISIBLE_LEVELS,
    )
}

pub fn concepts_section(
    outcomes: &[ConceptOutcome],
    steps: usize,
    glyph_count: usize,
    ceiling: (usize, usize),
) -> String {
    let top1 = outcomes.iter().filter(|o| o.rank == 0).count();
    let top = outcomes.iter().filter(|o| o.rank < TOP).count();
    let median_rank = {
        let mut ranks: Vec<usize> = outcomes.iter().map(|o| o.rank + 1).collect();
        ranks.sort();
        ranks.get(ranks.len() / 2).copied().unwrap_or(0)
    };
    let mut out = format!(
        "{} emoji names as prompts, {steps} steps; nearest of the {glyph_count} training glyphs \
         (on white) in the 8×8 RGB feature space.\n\n\
         | named glyph is nearest | in the nearest {TOP} | median rank | chance of top {TOP} | \
         feature-space ceiling (reference glyphs blurred twice, own top {TOP}) |\n\
         |---|---|---|---|---|\n\
         | {} | **{}** | {median_rank} | {:.1}% | {} |\n\n\
         | name | seed | rank | nearest glyphs |\n|---|---|---|---|\n",
        outcomes.len(),
        ratio(top1, outcomes.len()),
        ratio(top, outcomes.len()),
        100.0 * TOP as f64 / glyph_count as f64,
        ratio(ceiling.0, ceiling.1),
    );
    for o in outcomes {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            o.name,
            o.seed,
            o.rank + 1,
            o.nearest[..3].join("; ")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        adherence::check,
        checker::Expected,
        prompts::Prompt,
        render::{Placed, draw},
        vocab::{Colour, Position, Shape},
    };

    /// A scene drawn with `drawn` and checked against a prompt for `asked`.
    fn outcome(asked: Shape, size: Option<Size>, drawn: Shape) -> Outcome {
        let white = Colour::by_name("white").unwrap();
        let black = Colour::by_name("black").unwrap();
        let placed = Placed::at(drawn, white, Position(4), size.unwrap_or(Size::Large));
        let expected = Expected {
            shape: asked,
            colour: white,
            position: Position(4),
            size,
            background: Some(black),
        };
        let prompt = Prompt {
            text: format!("{asked:?}"),
            expected,
        };
        check(prompt, 0, draw(black, &[placed], 64))
    }

    #[test]
    fn shapes_are_counted_by_what_was_asked() {
        let outcomes = [
            outcome(Shape::Star, Some(Size::Large), Shape::Star),
            outcome(Shape::Star, Some(Size::Large), Shape::Circle),
            outcome(Shape::Square, None, Shape::Square),
            outcome(Shape::Circle, Some(Size::Large), Shape::Circle),
        ];
        assert_eq!(
            shapes_by_kind(&outcomes),
            "large circle 1/1; square, size unsaid, 1/1; large star 1/2"
        );
    }
}
