//! Project automation, run as `cargo xtask <command>` (an alias in
//! `.cargo/config.toml`). Every command installs what it needs first, so a
//! fresh Debian machine with rustup's toolchain is enough.

mod bench;
mod prereqs;
mod process;
mod serve;
mod summary;
mod test;

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
    /// Build the page with trunk and serve it on 127.0.0.1, rebuilding on changes.
    Serve {
        /// Port to listen on.
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Build without optimizations (faster builds, slower page).
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
