//! CI's regression test of the built-in model: the eval's first 10 procedural prompts at 20
//! steps on the CPU pipeline (the GPU pipeline gives the same pixels within 1/255, see
//! sculpt-flux's `gpu_cpu_parity`; on lavapipe it would take minutes), checked by image analysis against
//! floors a broken model fails (see sculpt_eval::regression, and tests/regression.rs for the
//! floors against known-broken generators). `cargo xtask eval-tiny --quick` runs the same subset
//! with a report.
//!
//! Run alone: `cargo test -p sculpt-eval --test builtin_regression -- --nocapture`.

use sculpt_eval::adherence::{self, Summary, ratio};
use sculpt_eval::generator::{PipelineGenerator, builtin_manifest};
use sculpt_eval::prompts;
use sculpt_eval::regression;

#[test]
fn builtin_model_clears_the_regression_floors() {
    let mut generator = PipelineGenerator::open_cpu(&builtin_manifest()).unwrap();
    let prompts = prompts::procedural(regression::PROMPTS, regression::PROMPT_SEED);
    let outcomes = adherence::run(
        &mut generator,
        &prompts,
        regression::STEPS,
        regression::FIRST_SEED,
        |i, o| {
            println!(
                "{i}: {} → {:?} {}",
                o.prompt.text,
                o.analysis.main.as_ref().map(|m| (
                    m.colour.name(),
                    m.position.name(),
                    m.shape.name()
                )),
                if o.verdict.adheres() { "ok" } else { "no" }
            )
        },
    )
    .unwrap();
    let s = Summary::of(&outcomes);
    println!(
        "adherence {}, colour {}, position {}, shape {}, background {}",
        ratio(s.adheres, s.count),
        ratio(s.colour, s.count),
        ratio(s.position, s.count),
        ratio(s.shape, s.count),
        ratio(s.background.0, s.background.1)
    );
    if let Err(why) = regression::judge(&s) {
        panic!("the built-in model fell below the regression floors: {why}");
    }
}
