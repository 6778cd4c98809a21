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
    let mut build = prereqs::trunk(root);
    build.args(["build", "--release", "--offline", "--dist", DIST]);
    if !run_captured(build)?.success {
        bail!("trunk could not build the page");
    }
    // A generation on WebGPU (SwiftShader), then on the CPU fallback (a
    // browser without WebGPU), each with steps drawn by the preview decoder
    // and in full; then scrubbing the visualizer on both.
    let mut text = String::new();
    for (script, steps, repeats, backend, preview) in [
        ("bench-page.mjs", "20", "2", "webgpu", "fast"),
        ("bench-page.mjs", "20", "2", "webgpu", "full"),
        ("bench-page.mjs", "8", "2", "cpu", "fast"),
        ("bench-page.mjs", "8", "2", "cpu", "full"),
        ("bench-page.mjs", "8", "2", "auto", "fast"),
        ("bench-visualizer.mjs", "4", "100", "webgpu", ""),
        ("bench-visualizer.mjs", "8", "100", "cpu", ""),
        ("bench-widget.mjs", "4", "1", "webgpu", ""),
        ("bench-widget.mjs", "4", "3", "webgpu", ""),
        ("bench-widget.mjs", "8", "1", "cpu", ""),
        ("bench-widget.mjs", "8", "3", "cpu", ""),
    ] {
        let mut bench = Command::new("node");
        bench
            .arg(format!("tests/e2e/{script}"))
            .args([steps, repeats, backend])
            .args((!preview.is_empty()).then_some(preview))
            .env("SCULPT_DIST", root.join(DIST));
        let output = run_captured(bench)?;
        if !output.success {
            bail!("tests/e2e/{script} ({backend}) failed");
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
