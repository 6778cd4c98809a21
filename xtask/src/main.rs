//! Project automation, run as `cargo xtask <command>` (an alias in
//! `.cargo/config.toml`). Every command installs what it needs first, so a
//! fresh Debian machine with rustup's toolchain is enough.

mod bench;
mod eval;
mod prereqs;
mod process;
mod serve;
mod summary;
mod test;
mod train;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    about = "Sculpt's build, serve and test automation"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Install everything `serve` and `test` need (also done by them on demand).
    Setup,
    /// Build the page with trunk and serve it on 127.0.0.1 as a static host
    /// would (release build, no live reload).
    Serve {
        /// Port to listen on.
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Developer mode: build without optimizations (faster builds,
        /// slower page) and reload the page when a source changes.
        #[arg(long)]
        dev: bool,
    },
    /// Benchmark the GPU kernels (release build), or with --page the page in
    /// headless Chromium; Markdown for BENCHMARKS.md.
    Bench {
        /// Fewer shapes and formats.
        #[arg(long)]
        quick: bool,
        /// Time the page instead: load, first step, ms per step with the built-in model.
        #[arg(long)]
        page: bool,
    },
    /// Run every check and test, then print `N passed, N failed, N skipped`.
    Test {
        /// Run only these steps (comma-separated): fmt, clippy, native, wasm, e2e.
        #[arg(long, value_delimiter = ',')]
        only: Vec<test::Step>,
    },
    /// Measure the built-in model's quality: prompt adherence at the default and a few steps,
    /// diversity, emoji concepts; report in target/eval/report.md, figures for MODEL.md.
    EvalTiny {
        /// Another model's manifest.json (default: models/sculpt-tiny).
        #[arg(long)]
        model: Option<PathBuf>,
        /// Procedural prompts (default 100).
        #[arg(long)]
        prompts: Option<usize>,
        /// Denoising steps (default: the model's, 20).
        #[arg(long)]
        steps: Option<usize>,
        /// The few-step count also measured (default 4; 0 skips it).
        #[arg(long)]
        few_steps: Option<usize>,
        /// Emoji names for the concepts eval (default 50; 0 skips it).
        #[arg(long)]
        emoji: Option<usize>,
        /// CI's regression subset alone (10 prompts, 20 steps, floors; no Python needed).
        #[arg(long)]
        quick: bool,
    },
    /// Train the built-in model (sculpt-tiny) from scratch on the CPU and write models/sculpt-tiny
    /// (PyTorch recipe in xtask/train; about 2.5 hours on 2 cores with the defaults).
    TrainTiny {
        /// Where checkpoints, logs, loss curves and sample grids go.
        #[arg(long, default_value = "target/train")]
        out: PathBuf,
        /// Procedural scenes in the data set (plus every emoji glyph, twice).
        #[arg(long, default_value_t = 20000)]
        scenes: u32,
        /// Autoencoder steps (batch 32; the first 80% on 32x32 crops).
        #[arg(long, default_value_t = 2000)]
        ae_steps: u32,
        /// Transformer + text encoder steps (batch 64).
        #[arg(long, default_value_t = 5000)]
        flux_steps: u32,
        /// PyTorch CPU threads (1 is fastest on a machine that is busy with other work).
        #[arg(long, default_value_t = 1)]
        threads: u32,
        /// Skip training: export the checkpoints already in --out.
        #[arg(long)]
        export_only: bool,
        /// Continue the transformer stage from its last checkpoint in --out.
        #[arg(long)]
        resume: bool,
    },
}

fn main() -> anyhow::Result<()> {
    let root = workspace_root();
    std::env::set_current_dir(&root)?;
    match Cli::parse().command {
        Command::Setup => {
            prereqs::ensure(&root, &prereqs::Needs::all())?;
            println!("xtask: everything is installed.");
            Ok(())
        }
        Command::Bench { quick, page: false } => bench::run(&root, quick),
        Command::Bench { page: true, .. } => bench::page(&root),
        Command::Serve { port, dev } => serve::run_server(&root, port, dev),
        Command::TrainTiny {
            out,
            scenes,
            ae_steps,
            flux_steps,
            threads,
            export_only,
            resume,
        } => train::run_recipe(
            &root,
            &train::Options {
                out,
                scenes,
                ae_steps,
                flux_steps,
                threads,
                export_only,
                resume,
            },
        ),
        Command::EvalTiny {
            model,
            prompts,
            steps,
            few_steps,
            emoji,
            quick,
        } => eval::run_eval(
            &root,
            &eval::Options {
                model,
                prompts,
                steps,
                few_steps,
                emoji,
                quick,
            },
        ),
        Command::Test { only } => {
            let code = test::run(&root, &only)?;
            std::process::exit(code);
        }
    }
}

fn workspace_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}
