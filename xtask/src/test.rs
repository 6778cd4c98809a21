//! `cargo xtask test`: every check and test the project has, one summary.

use std::{path::Path, process::Command};

use crate::{
    prereqs::{self, Needs},
    process::run_captured,
    summary::{self, Counts},
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Step {
    /// cargo fmt --check
    Fmt,
    /// clippy with warnings denied, native and wasm32
    Clippy,
    /// native unit tests, GPU tests on the native adapter, `sculpt info`
    Native,
    /// GPU tests compiled to wasm in headless Chromium with WebGPU; sculpt-flux's wasm tests in Node
    Wasm,
    /// end-to-end page tests (trunk-built page, Playwright, Chromium)
    E2e,
}

const ALL_STEPS: [Step; 5] = [Step::Fmt, Step::Clippy, Step::Native, Step::Wasm, Step::E2e];

/// Where the end-to-end tests' page is built.
const E2E_DIST: &str = "target/e2e-dist";

fn needs(steps: &[Step]) -> Needs {
    let mut needs = Needs::default();
    for step in steps {
        match step {
            Step::Fmt => needs.lint = true,
            Step::Clippy => {
                needs.lint = true;
                needs.wasm = true;
            }
            Step::Native => needs.vulkan = true,
            Step::Wasm => {
                needs.wasm = true;
                needs.browser = true;
                // sculpt-flux's wasm tests run in Node.
                needs.node = true;
            }
            Step::E2e => {
                needs.trunk = true;
                needs.browser = true;
                needs.node = true;
            }
        }
    }
    needs
}

/// Runs the steps (all when `only` is empty); returns the process exit code.
pub fn run(root: &Path, only: &[Step]) -> anyhow::Result<i32> {
    let steps = if only.is_empty() {
        &ALL_STEPS[..]
    } else {
        only
    };
    let mut rows: Vec<(String, Counts)> = Vec::new();
    if let Err(e) = prereqs::ensure(root, &needs(steps)) {
        println!("\nxtask: cannot run the tests: {e:#}");
        rows.push(("prerequisites".into(), failed_once()));
        return Ok(finish(&rows));
    }
    let runtime_dir = xdg_runtime_dir(root)?;
    for step in steps {
        match step {
            Step::Fmt => rows.push(("rustfmt".into(), check(cargo(["fmt", "--all", "--check"]))?)),
            Step::Clippy => {
                let lints = ["--", "-D", "warnings"];
                let mut native = cargo(["clippy", "--workspace", "--all-targets", "--locked"]);
                native.args(lints);
                rows.push(("clippy (native)".into(), check(native)?));
                let mut wasm = cargo([
                    "clippy",
                    "--package=sculpt-gpu",
                    "--package=sculpt-flux",
                    "--package=sculpt-web",
                    "--all-targets",
                    "--locked",
                    "--target=wasm32-unknown-unknown",
                ]);
                wasm.args(lints);
                rows.push(("clippy (wasm32)".into(), check(wasm)?));
            }
            Step::Native => {
                let mut tests = cargo(["test", "--workspace", "--locked", "--no-fail-fast"]);
                tests.env("XDG_RUNTIME_DIR", &runtime_dir);
                require_subgroups(&mut tests);
                let output = run_captured(tests)?;
                let (mut unit, gpu) = summary::libtest(&output.text);
                if !output.success && unit.failed + gpu.failed == 0 {
                    // A build error or a crashed test binary: no test said so.
                    unit.add(failed_once());
                }
                rows.push(("native unit tests".into(), unit));
                rows.push(("native GPU tests (Vulkan/Metal/DX12)".into(), gpu));
                let mut info = cargo([
                    "run",
                    "--quiet",
                    "--locked",
                    "--package=sculpt-cli",
                    "--",
                    "info",
                ]);
                info.env("XDG_RUNTIME_DIR", &runtime_dir);
                rows.push(("`sculpt info` finds an adapter".into(), check(info)?));
            }
            Step::Wasm => {
                let mut tests = cargo([
                    "test",
                    "--package=sculpt-gpu",
                    "--test=gpu",
                    "--locked",
                    "--no-fail-fast",
                    "--target=wasm32-unknown-unknown",
                ]);
                tests
                    .env("CHROMEDRIVER", "/usr/bin/chromedriver")
                    .env("WASM_BINDGEN_TEST_TIMEOUT", "600");
                let output = run_captured(tests)?;
                let (other, mut gpu) = summary::libtest(&output.text);
                gpu.add(other);
                if !output.success && gpu.failed == 0 {
                    gpu.add(failed_once());
                }
                rows.push(("wasm GPU tests in headless Chromium".into(), gpu));

                // The weight store on the browser's real IndexedDB.
                let mut tests = cargo([
                    "test",
                    "--package=sculpt-web",
                    "--test=indexed_db",
                    "--locked",
                    "--no-fail-fast",
                    "--target=wasm32-unknown-unknown",
                ]);
                tests.env("CHROMEDRIVER", "/usr/bin/chromedriver");
                let output = run_captured(tests)?;
                let (mut store, gpu_binary) = summary::libtest(&output.text);
                store.add(gpu_binary);
                if !output.success && store.failed == 0 {
                    store.add(failed_once());
                }
                rows.push(("wasm weight store on IndexedDB (Chromium)".into(), store));

                // The model layer's wasm build: its text tests in Node, the
                // transformer's parity with PyTorch in headless Chromium.
                let mut tests = cargo([
                    "test",
                    "--package=sculpt-flux",
                    "--locked",
                    "--no-fail-fast",
                    "--target=wasm32-unknown-unknown",
                ]);
                tests
                    .env("CHROMEDRIVER", "/usr/bin/chromedriver")
                    .env("WASM_BINDGEN_TEST_TIMEOUT", "600");
                let output = run_captured(tests)?;
                let (mut flux, gpu_binary) = summary::libtest(&output.text);
                flux.add(gpu_binary);
                if !output.success && flux.failed == 0 {
                    flux.add(failed_once());
                }
                rows.push((
                    "wasm sculpt-flux tests (Node; transformer in Chromium)".into(),
                    flux,
                ));
            }
            Step::E2e => rows.push(("end-to-end page tests".into(), e2e(root)?)),
        }
    }
    Ok(finish(&rows))
}

fn e2e(root: &Path) -> anyhow::Result<Counts> {
    let mut build = Command::new("trunk");
    build.args(["build", "--release", "--offline", "--dist", E2E_DIST]);
    if !run_captured(build)?.success {
        return Ok(failed_once());
    }
    let mut files: Vec<String> = std::fs::read_dir(root.join("tests/e2e"))?
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".test.mjs"))
        .map(|name| format!("tests/e2e/{name}"))
        .collect();
    files.sort();
    let mut tests = Command::new("node");
    tests
        .args(["--test", "--test-reporter=spec"])
        .args(&files)
        .env("SCULPT_DIST", root.join(E2E_DIST));
    let output = run_captured(tests)?;
    let mut counts = summary::node_test(&output.text);
    if !output.success && counts.failed == 0 {
        counts.add(failed_once());
    }
    Ok(counts)
}

fn cargo<const N: usize>(args: [&str; N]) -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.args(args);
    command
}

/// A command that is one check: it passes or fails as a whole.
fn check(command: Command) -> anyhow::Result<Counts> {
    Ok(if run_captured(command)?.success {
        Counts {
            passed: 1,
            ..Counts::default()
        }
    } else {
        failed_once()
    })
}

fn failed_once() -> Counts {
    Counts {
        failed: 1,
        ..Counts::default()
    }
}

/// lavapipe offers subgroups, so the native GPU tests must find them:
/// otherwise the kernels' subgroup variants would silently go untested. Read
/// by the GPU tests at compile time (`option_env!`).
/// `SCULPT_ALLOW_NO_SUBGROUPS=1` lifts it for an adapter without subgroups.
/// Not for the browser tests: Chromium's SwiftShader offers subgroups, but
/// wgpu 30's WebGPU backend does not map that feature (gfx-rs/wgpu#10146), so
/// wgpu cannot ask for it.
fn require_subgroups(tests: &mut Command) {
    if std::env::var_os("SCULPT_ALLOW_NO_SUBGROUPS").is_none() {
        tests.env("SCULPT_REQUIRE_SUBGROUPS", "1");
    }
}

/// Vulkan's loader warns on every device without a valid XDG_RUNTIME_DIR.
fn xdg_runtime_dir(root: &Path) -> anyhow::Result<std::path::PathBuf> {
    let dir = root.join("target/xdg-runtime");
    std::fs::create_dir_all(&dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(dir)
}

/// Prints each step's counts and the summary line; returns the exit code.
fn finish(rows: &[(String, Counts)]) -> i32 {
    let mut total = Counts::default();
    println!("\n== cargo xtask test ==");
    let width = rows.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    for (name, counts) in rows {
        let mark = if counts.failed > 0 { "FAIL" } else { "ok  " };
        println!("{mark} {name:<width$}  {counts}");
        total.add(*counts);
    }
    println!("{total}");
    if total.failed > 0 { 1 } else { 0 }
}
