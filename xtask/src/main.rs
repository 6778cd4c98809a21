//! Project automation, run as `cargo xtask <command>` (an alias in
//! `.cargo/config.toml`). Every command installs what it needs first, so a
//! fresh Debian machine with rustup's toolchain is enough (as root,
//! everything missing is installed on first use; otherwise the command says
//! what to install). `cargo xtask setup` installs it all at once.
//!
//! # `serve`
//!
//! `cargo xtask serve [--port 8080] [--dev]` installs the
//! `wasm32-unknown-unknown` target, trunk ([`prereqs::TRUNK_VERSION`]) and
//! `wasm-bindgen-cli` at exactly the version `Cargo.lock` pins, then runs
//! `trunk serve --offline` (nothing is downloaded at build time) on
//! 127.0.0.1. Without `--dev` it serves what a static host would: the
//! release build, with no live-reload script and no index.html fallback for
//! missing files. `--dev` builds without optimizations and reloads the page
//! when a source changes.
//!
//! It also serves the blog widget (`/sculpt-widget.js`, its iframe page
//! `/widget.html` and the sample post `/widget-demo.html`), every file with
//! `Access-Control-Allow-Origin: *` (Trunk.toml) so that a page on another
//! origin can include it.
//!
//! # `widget`
//!
//! `cargo xtask widget [--out target/sculpt-widget]` builds the site and
//! copies the widget's files into one folder to copy to any static host or
//! CDN (see [`widget`]).
//!
//! # `test`
//!
//! `cargo xtask test [--only fmt,clippy,native,wasm,e2e]` installs the test
//! prerequisites (Debian's `chromium`, `chromium-driver` and
//! `mesa-vulkan-drivers`; the npm packages of `tests/e2e`), runs these steps
//! in order and ends with `N passed, N failed, N skipped`:
//!
//! | step | what |
//! | --- | --- |
//! | `fmt` | `cargo fmt --all --check` |
//! | `clippy` | clippy with warnings denied, natively and for wasm32 |
//! | `native` | the workspace's tests: unit tests, and GPU tests on the native adapter (lavapipe when there is no GPU); then `sculpt info`, and every fuzz target for 10 s (`sculpt-fuzz`, seed 1; the row counts the executions) |
//! | `wasm` | one wasm32 build of `sculpt-gpu`, `sculpt-flux` and `sculpt-web`; `sculpt-gpu`'s GPU tests in headless Chromium with WebGPU; `sculpt-web`'s weight store on Chromium's IndexedDB; `sculpt-flux`'s wasm tests (text in Node, the transformer in Chromium) |
//! | `e2e` | the page built by `trunk build --release --cargo-profile e2e` into `target/e2e-dist`, driven by `tests/e2e` (Node's test runner, playwright-core, Debian's Chromium) |
//!
//! When `native` and `wasm` run, clippy lints their test builds instead of
//! checking everything again (the workspace's crates are compiled by
//! clippy-driver, in rustc's place): its rows fail on any warning there.
//! The `e2e` profile is the release profile without its single codegen unit
//! and LTO, which cost minutes; `serve` builds the real release. Each row of
//! the summary shows its seconds, its build's share, and the run's total.
//!
//! GPU test binaries are the ones named `tests/gpu/` or `tests/gpu_*.rs` in
//! their crate; the summary counts them apart. The native GPU tests must
//! find subgroups and shader-f16 (lavapipe has both), so that the kernels'
//! variants cannot go untested; `SCULPT_ALLOW_NO_SUBGROUPS=1` and
//! `SCULPT_ALLOW_NO_F16=1` lift that on other adapters. When a step fails
//! without a failing test (a build error, a crashed test binary), the
//! summary ends with the line of its output that says why, and the free disk
//! space. Test builds keep line tables only: a whole run takes about 3 GB of
//! `target/` (17 GB with full debug info: a CI run whose checks passed and
//! whose test and page builds then both failed most likely ran out of disk).
//! CI (`.ci/run`) runs `cargo xtask test` and nothing else, with
//! `CARGO_INCREMENTAL=0`.
//!
//! # `bench`
//!
//! `cargo xtask bench [--quick]` runs `sculpt bench kernels` in a release
//! build and keeps its Markdown in `target/bench/kernels.md`; `--page` times
//! the page in headless Chromium (load, engine ready, first step, ms per
//! step with the built-in model; on WebGPU, then on the CPU fallback in a
//! browser without WebGPU), and scrubbing a restored run in the visualizer
//! (`tests/e2e/bench-visualizer.mjs`), and the blog widget with one and
//! three widgets on a post of another origin (`tests/e2e/bench-widget.mjs`:
//! bytes before a widget starts and on the first run, time to each
//! widget's first step and image), into `target/bench/page.md`.
//! `--cpu-wasm` times the CPU engine's step in wasm (Node) against native
//! on one thread and profiles it, into `target/bench/cpu-wasm.md` (see
//! [`bench_cpu`]). Per-stage timings
//! of a generation are `sculpt bench stages` (see `sculpt-cli`). Figures go
//! to BENCHMARKS.md with the machine they came from.
//!
//! The release page is built with binaryen's `wasm-opt -Oz` (trunk runs it;
//! `cargo xtask` installs binaryen from npm into `xtask/npm` and puts it on
//! trunk's PATH, at the version `Trunk.toml` pins).
//!
//! # `fuzz`
//!
//! `cargo xtask fuzz [--seconds 300] [--seed N] [--target NAME]` runs
//! `sculpt-fuzz` (structure-aware fuzzing on a stable toolchain; see that
//! crate) in a release build for longer than the test run's 10 s a target,
//! from a seed taken from the clock unless given. Failing inputs are kept in
//! `target/fuzz/failures/<target>/`, each with what failed beside it.
//!
//! # `eval-tiny` and `train-tiny`
//!
//! `cargo xtask eval-tiny [--prompts N] [--steps S] [--few-steps F]
//! [--emoji N] [--model manifest.json] [--quick]` runs `sculpt-eval` in a
//! release build (what it measures is in that crate's docs): the report
//! goes to `target/eval/report.md` with a sample sheet and every image;
//! figures go to models/sculpt-tiny/MODEL.md. The concept references are
//! drawn by the training data's Python in the training venv
//! (`SCULPT_TRAIN_PYTHON` to use another); `--quick`, CI's regression
//! subset, needs no Python. `cargo xtask train-tiny` trains the built-in
//! model from scratch on the CPU (PyTorch recipe in `xtask/train`) and
//! writes `models/sculpt-tiny`.

mod bench;
mod bench_cpu;
mod eval;
mod prereqs;
mod process;
mod serve;
mod summary;
mod test;
mod train;
mod widget;

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
    /// Build the blog widget's folder (script, engine, built-in model, iframe page, sample post),
    /// ready to copy to any static host or CDN.
    Widget {
        /// Where the folder goes (emptied first).
        #[arg(long, default_value = "target/sculpt-widget")]
        out: PathBuf,
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
        /// Time and profile the CPU engine's step in wasm (Node) against native.
        #[arg(long, conflicts_with = "page")]
        cpu_wasm: bool,
    },
    /// Fuzz what Sculpt reads (weight files, manifests, tokenizers, PNGs, engine messages)
    /// in a release build; failing inputs go to target/fuzz/failures.
    Fuzz {
        /// Seconds per target.
        #[arg(long, default_value_t = 300)]
        seconds: u64,
        /// The mutations' random seed (default: from the clock; printed, to repeat a run).
        #[arg(long)]
        seed: Option<u64>,
        /// Only this target (safetensors, gguf, manifest, tokenizer, png, message).
        #[arg(long)]
        target: Option<String>,
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

/// `cargo xtask fuzz`: sculpt-fuzz in a release build, for longer than
/// the bounded run `cargo xtask test` makes.
fn fuzz(seconds: u64, seed: Option<u64>, target: Option<String>) -> anyhow::Result<()> {
    let seed = seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |since| since.as_secs())
    });
    let mut fuzz =
        std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    fuzz.args([
        "run",
        "--release",
        "--locked",
        "--quiet",
        "--package=sculpt-fuzz",
        "--",
    ])
    .args([
        "--seconds",
        &seconds.to_string(),
        "--seed",
        &seed.to_string(),
    ]);
    if let Some(target) = target {
        fuzz.args(["--target", &target]);
    }
    process::run(&mut fuzz)
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
        Command::Bench { cpu_wasm: true, .. } => bench_cpu::run_bench(&root),
        Command::Bench {
            quick, page: false, ..
        } => bench::run(&root, quick),
        Command::Bench { page: true, .. } => bench::page(&root),
        Command::Serve { port, dev } => serve::run_server(&root, port, dev),
        Command::Fuzz {
            seconds,
            seed,
            target,
        } => fuzz(seconds, seed, target),
        Command::Widget { out } => widget::build_folder(&root, &out),
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
