//! `sculpt-eval`: the built-in model's quality report (run through `cargo xtask eval-tiny`).

use std::time::Instant;

use clap::Parser;
use sculpt_eval::adherence::{self, Summary, ratio};
use sculpt_eval::generator::{Generator, GpuGenerator, builtin_manifest};
use sculpt_eval::prompts;

#[derive(Parser)]
#[command(name = "sculpt-eval", about = "Measure the built-in model's quality")]
struct Args {
    /// The model's manifest.json (default: the built-in model).
    #[arg(long)]
    model: Option<std::path::PathBuf>,
    /// Procedural prompts for adherence.
    #[arg(long, default_value_t = 100)]
    prompts: usize,
    /// Denoising steps (default: the model's).
    #[arg(long)]
    steps: Option<usize>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut generator = GpuGenerator::open(&args.model.unwrap_or_else(builtin_manifest))?;
    eprintln!("{}", generator.describe());
    let steps = args.steps.unwrap_or(generator.default_steps());
    let prompts = prompts::procedural(args.prompts, 0);
    let started = Instant::now();
    let outcomes = adherence::run(&mut generator, &prompts, steps, 0, |i, o| {
        eprintln!(
            "{i:3} {:.1}s {:?} {:60} {:?}",
            started.elapsed().as_secs_f32(),
            o.verdict.adheres(),
            o.prompt.text,
            o.analysis
                .main
                .as_ref()
                .map(|m| (m.colour.name(), m.position.name(), m.shape))
        )
    })?;
    let s = Summary::of(&outcomes);
    println!("adherence {}", ratio(s.adheres, s.count));
    Ok(())
}
