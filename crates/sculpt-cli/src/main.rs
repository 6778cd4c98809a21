//! # sculpt
//!
//! The native command line: a thin binary over `sculpt-gpu` and `sculpt-flux`.
//! It parses arguments, calls the libraries and prints; it holds no model or
//! kernel logic of its own.

use clap::{Parser, Subcommand};
use sculpt_gpu::Gpu;

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
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Info => info(),
    }
}

fn info() -> anyhow::Result<()> {
    let gpu = pollster::block_on(Gpu::new())?;
    print!("{}", gpu.report);
    Ok(())
}
