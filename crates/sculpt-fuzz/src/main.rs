//! `sculpt-fuzz`: runs the fuzz targets for a time each and says what it
//! found. `cargo xtask test` runs it briefly, `cargo xtask fuzz` for longer.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use sculpt_fuzz::allocations::Counting;
use sculpt_fuzz::driver::{self, Budget, Report};
use sculpt_fuzz::{seeds, targets};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[derive(Parser)]
#[command(
    about = "Fuzz what Sculpt reads: weight files, manifests, tokenizers, PNGs, engine messages"
)]
struct Cli {
    /// Seconds per target.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Stop a target after this many executions (even with time left).
    #[arg(long)]
    executions: Option<u64>,
    /// Only these targets (safetensors, gguf, manifest, tokenizer, png, message).
    #[arg(long = "target")]
    targets: Vec<String>,
    /// The random seed of the mutations (a run is repeatable with it).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where failing inputs are written, per target.
    #[arg(long, default_value = "target/fuzz/failures")]
    failures: PathBuf,
    /// Regenerate the seed-* files of the corpus instead, and stop.
    #[arg(long)]
    write_seeds: bool,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if cli.write_seeds {
        let count = seeds::write(&seeds::corpus_dir())?;
        println!(
            "wrote {count} seeds under {}",
            seeds::corpus_dir().display()
        );
        return Ok(());
    }
    let chosen: Vec<&'static targets::Target> = if cli.targets.is_empty() {
        targets::TARGETS.iter().collect()
    } else {
        cli.targets
            .iter()
            .map(|name| targets::target(name).with_context(|| format!("no target {name}")))
            .collect::<anyhow::Result<_>>()?
    };
    let budget = Budget {
        time: Duration::from_secs_f64(cli.seconds),
        executions: cli.executions,
    };
    let (mut executions, mut failures) = (0, 0);
    for target in chosen {
        let corpus: Vec<Vec<u8>> = seeds::corpus(target.name)
            .with_context(|| format!("reading the {} corpus", target.name))?
            .into_iter()
            .map(|(_, bytes)| bytes)
            .collect();
        let report = driver::run(target, &corpus, cli.seed, budget);
        print_report(&report, corpus.len());
        executions += report.executions;
        failures += report.failures.len();
        for failure in &report.failures {
            let path = keep(&cli.failures, target.name, &failure.input, &failure.what)?;
            println!(
                "  FAILED: {} (input kept in {})",
                failure.what,
                path.display()
            );
        }
    }
    println!(
        "fuzz: {executions} executions, {failures} failures (seed {})",
        cli.seed
    );
    if failures > 0 {
        eprintln!(
            "error: {failures} inputs failed; fix what they show, then commit them to \
             crates/sculpt-fuzz/corpus/<target>/ as regression tests"
        );
        std::process::exit(1);
    }
    Ok(())
}

fn print_report(report: &Report, seeds: usize) {
    println!(
        "{:<12} {:>10} executions in {:.1} s from {seeds} corpus inputs; slowest {:.2} ms, \
         most memory {:.1} MB",
        report.target,
        report.executions,
        report.elapsed.as_secs_f64(),
        report.slowest.as_secs_f64() * 1e3,
        report.most_memory as f64 / 1e6,
    );
}

/// Writes a failing input to `dir/target/<hash>` and what failed beside it.
fn keep(dir: &std::path::Path, target: &str, input: &[u8], what: &str) -> anyhow::Result<PathBuf> {
    let folder = dir.join(target);
    std::fs::create_dir_all(&folder)?;
    let mut hasher = DefaultHasher::new();
    input.hash(&mut hasher);
    let path = folder.join(format!("{:016x}", hasher.finish()));
    std::fs::write(&path, input)?;
    std::fs::write(path.with_extension("txt"), what)?;
    Ok(path)
}
