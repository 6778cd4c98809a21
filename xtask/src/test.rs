//! `cargo xtask test`: every check and test the project has, one summary.

use std::{
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use crate::{
    prereqs::{self, Needs},
    process::{Output, run_captured},
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
    let start = Instant::now();
    let mut rows: Vec<Row> = Vec::new();
    let prereqs = prereqs::ensure(root, &needs(steps));
    // Installing is part of what a run costs (it is most of a first one).
    let prereqs_time = Timing::of(start.elapsed());
    if let Err(e) = prereqs {
        println!("\nxtask: cannot run the tests: {e:#}");
        rows.push(Row::failed("prerequisites", format!("{e:#}")).timed(prereqs_time));
        return Ok(finish(root, &rows, start));
    }
    rows.push(Row::new("prerequisites", Counts::default(), None).timed(prereqs_time));
    let runtime_dir = xdg_runtime_dir(root)?;
    for step in steps {
        match step {
            Step::Fmt => rows.push(check("rustfmt", cargo(["fmt", "--all", "--check"]))?),
            Step::Clippy => {
                let lints = ["--", "-D", "warnings"];
                let mut native = cargo(["clippy", "--workspace", "--all-targets", "--locked"]);
                native.args(lints);
                rows.push(check("clippy (native)", native)?);
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
                rows.push(check("clippy (wasm32)", wasm)?);
            }
            Step::Native => {
                let mut tests = cargo(["test", "--workspace", "--locked", "--no-fail-fast"]);
                tests.env("XDG_RUNTIME_DIR", &runtime_dir);
                require_subgroups(&mut tests);
                let output = run_captured(tests)?;
                let (unit, gpu) = summary::libtest(&output.text);
                let cause = unexplained_failure(&output, unit.failed + gpu.failed);
                // One command ran both: its time goes on the first row.
                rows.push(Row::new("native unit tests", unit, cause).timed(Timing::from(&output)));
                rows.push(Row::new("native GPU tests (Vulkan/Metal/DX12)", gpu, None));
                let mut info = cargo([
                    "run",
                    "--quiet",
                    "--locked",
                    "--package=sculpt-cli",
                    "--",
                    "info",
                ]);
                info.env("XDG_RUNTIME_DIR", &runtime_dir);
                rows.push(check("`sculpt info` finds an adapter", info)?);
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
                let cause = unexplained_failure(&output, gpu.failed);
                rows.push(
                    Row::new("wasm GPU tests in headless Chromium", gpu, cause)
                        .timed(Timing::from(&output)),
                );

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
                let cause = unexplained_failure(&output, store.failed);
                rows.push(
                    Row::new("wasm weight store on IndexedDB (Chromium)", store, cause)
                        .timed(Timing::from(&output)),
                );

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
                let cause = unexplained_failure(&output, flux.failed);
                rows.push(
                    Row::new(
                        "wasm sculpt-flux tests (Node; transformer in Chromium)",
                        flux,
                        cause,
                    )
                    .timed(Timing::from(&output)),
                );
            }
            Step::E2e => rows.push(e2e(root)?),
        }
    }
    Ok(finish(root, &rows, start))
}

fn e2e(root: &Path) -> anyhow::Result<Row> {
    const NAME: &str = "end-to-end page tests";
    let mut build = Command::new("trunk");
    build.args(["build", "--release", "--offline", "--dist", E2E_DIST]);
    let output = run_captured(build)?;
    let build_time = output.elapsed;
    if let Some(cause) = unexplained_failure(&output, 0) {
        return Ok(Row::failed(NAME, format!("trunk build: {cause}")).timed(Timing::of(build_time)));
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
    let counts = summary::node_test(&output.text);
    let cause = unexplained_failure(&output, counts.failed);
    Ok(Row::new(NAME, counts, cause).timed(Timing {
        total: build_time + output.elapsed,
        build: Some(build_time),
    }))
}

fn cargo<const N: usize>(args: [&str; N]) -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.args(args);
    command
}

/// One line of the summary: a step's counts and, when it failed with no
/// failing test to show for it, the line of its output that says why. The
/// causes are printed last, where a truncated CI log still shows them.
struct Row {
    name: String,
    counts: Counts,
    cause: Option<String>,
    /// None for a row whose command's time is on the row above.
    time: Option<Timing>,
}

/// How long a step took, its build included, and how much of it was the
/// build (when the step's output tells): what to look at when CI slows down.
#[derive(Clone, Copy)]
struct Timing {
    total: Duration,
    build: Option<Duration>,
}

impl Timing {
    fn of(total: Duration) -> Self {
        Timing { total, build: None }
    }

    fn from(output: &Output) -> Self {
        Timing {
            total: output.elapsed,
            build: output.build,
        }
    }
}

impl Row {
    /// A step's counts; a `cause` (see [`unexplained_failure`]) counts as one
    /// more failure.
    fn new(name: &str, mut counts: Counts, cause: Option<String>) -> Self {
        if cause.is_some() {
            counts.failed += 1;
        }
        Row {
            name: name.into(),
            counts,
            cause,
            time: None,
        }
    }

    fn timed(self, time: Timing) -> Self {
        Row {
            time: Some(time),
            ..self
        }
    }

    fn failed(name: &str, cause: String) -> Self {
        Row::new(name, Counts::default(), Some(cause))
    }
}

/// A command that is one check: it passes or fails as a whole.
fn check(name: &str, command: Command) -> anyhow::Result<Row> {
    let output = run_captured(command)?;
    let passed = Counts {
        passed: u32::from(output.success),
        ..Counts::default()
    };
    Ok(Row::new(name, passed, unexplained_failure(&output, 0)).timed(Timing::from(&output)))
}

/// A command that failed though none of its tests did (a build error, a
/// crashed test binary, a failed check): the line that most likely says why.
fn unexplained_failure(output: &Output, tests_failed: u32) -> Option<String> {
    (!output.success && tests_failed == 0).then(|| {
        summary::first_error(&output.text)
            .unwrap_or_else(|| "no error line in its output (see above)".into())
    })
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
    // The same for shader-f16 (the f16 linear layers), which lavapipe offers too.
    if std::env::var_os("SCULPT_ALLOW_NO_F16").is_none() {
        tests.env("SCULPT_REQUIRE_F16", "1");
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

/// Prints each step's counts, the summary line, and why the steps that
/// failed without a failing test did; returns the exit code.
fn finish(root: &Path, rows: &[Row], start: Instant) -> i32 {
    let mut total = Counts::default();
    println!("\n== cargo xtask test ==");
    let width = rows.iter().map(|row| row.name.len()).max().unwrap_or(0);
    let lines: Vec<_> = rows
        .iter()
        .map(|row| {
            let mark = if row.counts.failed > 0 {
                "FAIL"
            } else {
                "ok  "
            };
            (
                format!("{mark} {:<width$}  {}", row.name, row.counts),
                row.time,
            )
        })
        .collect();
    let width = lines.iter().map(|(line, _)| line.len()).max().unwrap_or(0);
    for (line, time) in lines {
        println!(
            "{line:<width$}  {}",
            summary::seconds(time.map(|t| (t.total, t.build)))
        );
    }
    for row in rows {
        total.add(row.counts);
    }
    println!("{total} in {:.0} s", start.elapsed().as_secs_f64());
    let causes: Vec<_> = rows
        .iter()
        .filter_map(|row| Some((&row.name, row.cause.as_ref()?)))
        .collect();
    if causes.is_empty() {
        return if total.failed > 0 { 1 } else { 0 };
    }
    for (name, cause) in causes {
        println!("why {name}: {cause}");
    }
    // Builds that fail at once after passing checks are most often a full disk.
    if let Some(free) = free_space(root) {
        println!("free disk space for target/: {free}");
    }
    1
}

/// `df`'s "available" figure for the file system holding `root`.
fn free_space(root: &Path) -> Option<String> {
    let output = Command::new("df")
        .args(["-h", "--output=avail"])
        .arg(root)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines().nth(1).map(|line| line.trim().to_string())
}
