//! # sculpt
//!
//! The native command line: a thin binary over `sculpt-gpu` and `sculpt-flux`.
//! It parses arguments, calls the libraries and prints; it holds no model or
//! kernel logic of its own. Run it with `cargo run -p sculpt-cli -- …`;
//! `--help` on each command lists its flags.
//!
//! - `sculpt info` prints the GPU adapter, its optional features
//!   (shader-f16, subgroups, timestamp queries) and key limits.
//! - `sculpt generate --prompt "…" [--model <manifest.json | dir | files…>]
//!   [--steps N] [--seed S] [--width W --height H] --out out.png
//!   [--save-steps DIR] [--init-image IMG.png --strength S] [--cfg S]
//!   [--guidance G] [--cpu]` writes a PNG with the prompt, seed, steps and
//!   model in its tEXt chunks; a progress bar goes to stderr. Without
//!   `--model` it uses the built-in model, `models/sculpt-tiny/manifest.json`,
//!   and says so when it is not installed. A folder is read through its
//!   `manifest.json`, or else its `*.safetensors`/`*.gguf` files are sorted
//!   into roles by their headers and its `tokenizer.json` files by type (BPE
//!   is CLIP's, Unigram T5's), as the page's import does. `--cpu` runs the
//!   CPU fallback (candle; small models with a manifest, i.e. the built-in
//!   one) instead of the GPU, through the same generation driver.
//! - `sculpt inspect FILE…` prints each file's role, variant, tensor and
//!   parameter counts, dtype mix, and bytes in the file and on the GPU; it
//!   reads headers only. A valid file always gets its summary: what its
//!   shapes do not tell (FLUX's rotary split for heads it does not divide),
//!   or a configuration the kernels cannot run yet, is said in it.
//! - `sculpt forward --stage dit|ae-decode|ae-encode|clip|t5 --weights FILE
//!   [--config config.json] --inputs in.safetensors --out out.safetensors`
//!   runs one stage, to compare Sculpt with PyTorch or candle; `--help`
//!   lists the tensor names. The config is Sculpt's own JSON, the public
//!   config.json of the diffusers/transformers layout, or inferred from the
//!   shapes.
//! - `sculpt bench kernels [--quick] [--only …]` times the WGSL kernels at
//!   FLUX's shapes, with candle on the CPU as a yardstick (`cargo xtask
//!   bench` runs it in release); `sculpt bench stages [--model …]
//!   [--steps N] [--cpu | --f16-linear]` times each stage of a generation
//!   (loading, text encoders, a step, decoding) on the GPU or the CPU
//!   fallback. Both print Markdown for BENCHMARKS.md.
//!
//! Its tests (`tests/`) run the binary: `gpu_generate.rs` checks that
//! `sculpt generate` equals the same generation in candle-transformers
//! within 1/255.

mod bench;
mod forward;
mod generate;
mod inspect;
mod model;
mod stages;

use clap::{Parser, Subcommand};
use sculpt_gpu::{Gpu, GpuOptions};

#[derive(Parser)]
#[command(
    name = "sculpt",
    version,
    about = "Sculpt: FLUX-class image generation on your GPU"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the GPU adapter Sculpt would use, its optional features and key limits.
    Info,
    /// Generate an image from a prompt and write it as a PNG (prompt, seed,
    /// steps and model in its text chunks). Progress goes to stderr.
    Generate(generate::GenerateArgs),
    /// Run one stage on given inputs and write its outputs (safetensors), to
    /// compare Sculpt with PyTorch or candle.
    Forward(forward::ForwardArgs),
    /// Print each weight file's role, variant, tensor and parameter counts,
    /// dtype mix and bytes. Reads only the files' headers.
    Inspect {
        /// safetensors or GGUF files; the shards of one checkpoint
        /// (`model-00001-of-00002.safetensors`, …) are read as one.
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
    },
    /// Measure performance on this machine (Markdown on stdout).
    Bench {
        #[command(subcommand)]
        what: BenchTarget,
    },
}

#[derive(Subcommand)]
enum BenchTarget {
    /// The WGSL kernels at FLUX's shapes, with candle on the CPU as a yardstick.
    Kernels {
        /// Fewer shapes and formats.
        #[arg(long)]
        quick: bool,
        /// Only these sections (comma-separated); all by default.
        #[arg(long, value_delimiter = ',')]
        only: Vec<bench::Section>,
    },
    /// Each stage of a generation (loading, text encoders, a step, decoding)
    /// with a model, the built-in one by default.
    Stages {
        /// A manifest, a folder or weight files, as for `generate`.
        #[arg(long, num_args = 1..)]
        model: Vec<std::path::PathBuf>,
        /// Denoising steps to time.
        #[arg(long, default_value_t = 8)]
        steps: usize,
        /// Time the CPU fallback (candle) instead of the GPU.
        #[arg(long)]
        cpu: bool,
        /// Print one JSON object (medians in ms: step_ms, frame_preview_ms,
        /// frame_full_ms, …) instead of the table.
        #[arg(long)]
        json: bool,
        /// Let linear layers multiply in f16 where the GPU has shader-f16
        /// (opt-in: see `GpuOptions::f16_linear`).
        #[arg(long, conflicts_with = "cpu")]
        f16_linear: bool,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Info => info(),
        Command::Inspect { files } => inspect::run(&files),
        Command::Generate(args) => generate::run(args),
        Command::Forward(args) => forward::run(args),
        Command::Bench {
            what:
                BenchTarget::Stages {
                    model,
                    steps,
                    cpu,
                    json,
                    f16_linear,
                },
        } => stages::run(
            &model,
            steps,
            cpu,
            json,
            GpuOptions {
                f16_linear,
                ..GpuOptions::default()
            },
        ),
        Command::Bench {
            what: BenchTarget::Kernels { quick, only },
        } => {
            let gpu = pollster::block_on(Gpu::new())?;
            let has_variants = gpu.report.subgroups || gpu.report.shader_f16;
            let plain = match has_variants {
                true => Some(pollster::block_on(Gpu::with_options(GpuOptions::plain()))?),
                false => None,
            };
            let f16_linear = match gpu.report.shader_f16 {
                true => Some(pollster::block_on(Gpu::with_options(GpuOptions {
                    f16_linear: true,
                    ..GpuOptions::default()
                }))?),
                false => None,
            };
            bench::kernels(
                &gpu,
                plain.as_ref(),
                f16_linear.as_ref(),
                &bench::Options {
                    quick,
                    sections: only,
                },
            )
        }
    }
}

fn info() -> anyhow::Result<()> {
    let gpu = pollster::block_on(Gpu::new())?;
    print!("{}", gpu.report);
    Ok(())
}
