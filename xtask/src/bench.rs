//! `cargo xtask bench`: the kernel benchmark in release mode, or (`--page`)
//! the page's generation in headless Chromium; the Markdown is kept in
//! target/bench/ for BENCHMARKS.md.

use std::{path::Path, process::Command};

use anyhow::{Context, bail};

use crate::{
    prereqs::{self, Needs},
    process::run_captured,
};

pub fn run(root: &Path, quick: bool) -> anyhow::Result<()> {
    prereqs::ensure(
        root,
        &Needs {
            vulkan: true,
            ..Needs::default()
        },
    )?;
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.args([
        "run",
        "--release",
        "--locked",
        "--quiet",
        "--package=sculpt-cli",
        "--",
        "bench",
        "kernels",
    ]);
    if quick {
        command.arg("--quick");
    }
    let output = run_captured(command)?;
    if !output.success {
        bail!("the kernel benchmark failed");
    }
    let dir = root.join("target/bench");
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("kernels.md");
    std::fs::write(&file, output.text).with_context(|| format!("writing {}", file.display()))?;
    println!("\nxtask: results kept in {}", file.display());
    Ok(())
}

/// Builds the site (release) and times a generation in headless Chromium,
/// and scrubbing the visualizer.
pub fn page(root: &Path) -> anyhow::Result<()> {
    prereqs::ensure(
        root,
        &Needs {
            trunk: true,
            browser: true,
            wasm: true,
            node: true,
            ..Needs::default()
        },
    )?;
    const DIST: &str = "target/bench-dist";
    let mut build = Command::new("trunk");
    build.args(["build", "--release", "--offline", "--dist", DIST]);
    if !run_captured(build)?.success {
        bail!("trunk could not build the page");
    }
    // WebGPU (SwiftShader), then the CPU fallback (a browser without WebGPU).
    let mut text = String::new();
    for (steps, backend) in [("20", "webgpu"), ("8", "cpu")] {
        let mut bench = Command::new("node");
        bench
            .args(["tests/e2e/bench-page.mjs", steps, "2", backend])
            .env("SCULPT_DIST", root.join(DIST));
        let output = run_captured(bench)?;
        if !output.success {
            bail!("the page benchmark ({backend}) failed");
        }
        text.push_str(&output.text);
        text.push('\n');
    }
    // The visualizer: scrubbing a restored run, on both engines.
    for (steps, backend) in [("4", "webgpu"), ("8", "cpu")] {
        let mut bench = Command::new("node");
        bench
            .args(["tests/e2e/bench-visualizer.mjs", steps, "100", backend])
            .env("SCULPT_DIST", root.join(DIST));
        let output = run_captured(bench)?;
        if !output.success {
            bail!("the visualizer benchmark ({backend}) failed");
        }
        text.push_str(&output.text);
        text.push('\n');
    }
    let dir = root.join("target/bench");
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("page.md");
    std::fs::write(&file, text).with_context(|| format!("writing {}", file.display()))?;
    println!("\nxtask: results kept in {}", file.display());
    Ok(())
}
