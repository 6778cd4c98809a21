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
            Step::Native => {
                needs.vulkan = true;
                // The tests are built through clippy-driver (see `lint_while_building`).
                needs.lint = true;
            }
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
                if steps.contains(&Step::Native) {
                    // The native test build lints the workspace (see
                    // `lint_while_building`), all but xtask's binary outside
                    // test mode, which no test builds.
                    let mut xtask = cargo(["clippy", "--package=xtask", "--bins", "--locked"]);
                    xtask.args(lints);
                    rows.push(check("clippy (xtask's binary)", xtask)?);
                } else {
                    let mut native = cargo(["clippy", "--workspace", "--all-targets", "--locked"]);
                    native.args(lints);
                    rows.push(check("clippy (native)", native)?);
                }
                // Likewise the wasm step's build lints the wasm crates.
                if !steps.contains(&Step::Wasm) {
                    let mut wasm = cargo(["clippy", "--all-targets", "--locked", WASM_TARGET]);
                    wasm.args(WASM_PACKAGES.map(|package| format!("--package={package}")));
                    wasm.args(lints);
                    rows.push(check("clippy (wasm32)", wasm)?);
                }
            }
            Step::Native => {
                let mut tests = cargo(["test", "--workspace", "--locked", "--no-fail-fast"]);
                tests.env("XDG_RUNTIME_DIR", &runtime_dir);
                require_subgroups(&mut tests);
                lint_while_building(&mut tests);
                let output = run_captured(tests)?;
                let (unit, gpu) = summary::libtest(&output.text);
                let cause = unexplained_failure(&output, unit.failed + gpu.failed);
                // One command ran both: its time goes on the first row.
                rows.push(Row::new("native unit tests", unit, cause).timed(Timing::from(&output)));
                rows.push(Row::new("native GPU tests (Vulkan/Metal/DX12)", gpu, None));
                if steps.contains(&Step::Clippy) {
                    let cause = summary::build_warnings(&output.text);
                    let passed = Counts {
                        passed: u32::from(cause.is_none()),
                        ..Counts::default()
                    };
                    rows.push(Row::new(
                        "clippy (native, in the test build)",
                        passed,
                        cause,
                    ));
                }
                let mut info = cargo([
                    "run",
                    "--quiet",
                    "--locked",
                    "--package=sculpt-cli",
                    "--",
                    "info",
                ]);
                info.env("XDG_RUNTIME_DIR", &runtime_dir);
                // As the tests were built, or it would build the CLI's crates again.
                lint_while_building(&mut info);
                rows.push(check("`sculpt info` finds an adapter", info)?);
                rows.push(fuzz_briefly()?);
            }
            Step::Wasm => {
                let lint = steps.contains(&Step::Clippy);
                rows.extend(wasm(root, lint)?);
            }
            Step::E2e => rows.push(e2e(root)?),
        }
    }
    Ok(finish(root, &rows, start))
}

const WASM_TARGET: &str = "--target=wasm32-unknown-unknown";

/// The crates built and tested for wasm32, with their summary rows' names.
const WASM_PACKAGES: [&str; 3] = ["sculpt-gpu", "sculpt-flux", "sculpt-web"];

fn wasm_row_name(package: &str) -> &'static str {
    match package {
        "sculpt-gpu" => "wasm GPU tests in headless Chromium",
        "sculpt-web" => "wasm weight store on IndexedDB (Chromium)",
        _ => "wasm sculpt-flux tests (Node; transformer in Chromium)",
    }
}

/// The wasm tests: sculpt-gpu's GPU tests in headless Chromium with WebGPU,
/// sculpt-web's weight store on Chromium's IndexedDB, sculpt-flux's text
/// tests in Node and its transformer in Chromium.
///
/// One build for the three crates: built one crate at a time, each build
/// unified other features (sculpt-web's web-sys features, sculpt-flux's CPU
/// fallback) and built wgpu, candle and the crates above them again. The
/// build is every target `clippy --all-targets` checks, through clippy-driver
/// (see [`lint_while_building`]); with `lint`, its warnings are a row.
fn wasm(root: &Path, lint: bool) -> anyhow::Result<Vec<Row>> {
    let packages = WASM_PACKAGES.map(|package| format!("--package={package}"));
    let mut build = cargo(["test", "--no-run", "--all-targets", "--locked", WASM_TARGET]);
    build.args(&packages);
    lint_while_building(&mut build);
    let built = run_captured(build)?;
    let lint_row = lint.then(|| {
        let cause = summary::build_warnings(&built.text);
        let passed = Counts {
            passed: u32::from(cause.is_none()),
            ..Counts::default()
        };
        Row::new("clippy (wasm32, in the test build)", passed, cause)
    });
    if !built.success {
        let cause = summary::first_error(&built.text).unwrap_or_else(|| "see above".into());
        let mut rows = vec![
            Row::failed("wasm tests", format!("build: {cause}")).timed(Timing::of(built.elapsed)),
        ];
        rows.extend(lint_row);
        return Ok(rows);
    }

    // The libraries' unit tests and the integration tests that are not
    // native-only (most of sculpt-flux's are); each binary is known by its
    // name, to count its tests in its crate's row.
    let mut owner = Vec::new();
    let mut tests = cargo(["test", "--locked", "--no-fail-fast", "--lib", WASM_TARGET]);
    tests.args(&packages);
    for package in WASM_PACKAGES {
        owner.push((package.replace('-', "_"), package));
        for target in wasm_test_targets(&root.join("crates").join(package))? {
            tests.arg(format!("--test={target}"));
            owner.push((target, package));
        }
    }
    tests
        .env("CHROMEDRIVER", "/usr/bin/chromedriver")
        .env("WASM_BINDGEN_TEST_TIMEOUT", "600");
    lint_while_building(&mut tests);
    let output = run_captured(tests)?;

    let mut counts = WASM_PACKAGES.map(|_| Counts::default());
    for (binary, binary_counts) in summary::libtest_per_binary(&output.text) {
        // Every binary that runs is in `owner`; were one not, its counts
        // would still count, in the first row.
        let index = owner
            .iter()
            .find(|(name, _)| *name == binary)
            .and_then(|(_, package)| WASM_PACKAGES.iter().position(|p| p == package))
            .unwrap_or(0);
        counts[index].add(binary_counts);
    }
    let failed = counts.iter().map(|c| c.failed).sum();
    let mut cause = unexplained_failure(&output, failed);
    let mut rows = Vec::new();
    for (package, package_counts) in WASM_PACKAGES.into_iter().zip(counts) {
        let mut row = Row::new(wasm_row_name(package), package_counts, cause.take());
        if rows.is_empty() {
            // One build and one run for all three rows.
            row = row.timed(Timing {
                total: built.elapsed + output.elapsed,
                build: Some(built.elapsed + output.build.unwrap_or_default()),
            });
        }
        rows.push(row);
    }
    rows.extend(lint_row);
    Ok(rows)
}

/// The integration test targets of the crate at `dir` (`tests/*.rs`,
/// `tests/*/main.rs`), less those that declare themselves native-only with
/// `#![cfg(not(target_arch = "wasm32"))]`: built for wasm they hold nothing.
/// A new test file is included until it says so.
fn wasm_test_targets(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut targets = Vec::new();
    for entry in std::fs::read_dir(dir.join("tests"))? {
        let path = entry?.path();
        let (name, source) = if path.is_dir() {
            (path.file_name(), path.join("main.rs"))
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            (path.file_stem(), path.clone())
        } else {
            continue;
        };
        let Ok(text) = std::fs::read_to_string(&source) else {
            continue; // a folder of fixtures or shared modules
        };
        let native_only = text
            .lines()
            .any(|line| line.trim() == r#"#![cfg(not(target_arch = "wasm32"))]"#);
        if !native_only && let Some(name) = name {
            targets.push(name.to_string_lossy().into_owned());
        }
    }
    targets.sort();
    Ok(targets)
}

fn e2e(root: &Path) -> anyhow::Result<Row> {
    const NAME: &str = "end-to-end page tests";
    let mut build = prereqs::trunk(root);
    // The e2e profile: release code, built faster than the shipped page (see Cargo.toml).
    build.args([
        "build",
        "--release",
        "--cargo-profile=e2e",
        "--offline",
        "--dist",
        E2E_DIST,
    ]);
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

/// Seconds of the bounded fuzz run per target (`cargo xtask fuzz` runs longer).
const FUZZ_SECONDS: u32 = 10;

/// Every fuzz target for [`FUZZ_SECONDS`] from the committed corpus, with a
/// fixed seed (so a failure here is repeatable); the row counts the
/// executions.
fn fuzz_briefly() -> anyhow::Result<Row> {
    let mut fuzz = cargo(["run", "--quiet", "--locked", "--package=sculpt-fuzz", "--"]);
    fuzz.args(["--seconds", &FUZZ_SECONDS.to_string(), "--seed", "1"]);
    // As the tests were built, or it would build its crates again.
    lint_while_building(&mut fuzz);
    let output = run_captured(fuzz)?;
    let executions = output
        .text
        .lines()
        .find_map(|line| line.strip_prefix("fuzz: "))
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or("no");
    let name = format!("fuzz, {FUZZ_SECONDS} s a target: {executions} executions");
    let counts = Counts {
        passed: u32::from(output.success),
        ..Counts::default()
    };
    // A cause makes the row's one failure.
    let cause = (!output.success).then(|| {
        output
            .text
            .lines()
            .find(|line| line.trim_start().starts_with("FAILED"))
            .map_or_else(
                || summary::first_error(&output.text).unwrap_or_default(),
                |line| line.trim().to_string(),
            )
    });
    Ok(Row::new(&name, counts, cause).timed(Timing::from(&output)))
}

/// A command that failed though none of its tests did (a build error, a
/// crashed test binary, a failed check): the line that most likely says why.
fn unexplained_failure(output: &Output, tests_failed: u32) -> Option<String> {
    (!output.success && tests_failed == 0).then(|| {
        summary::first_error(&output.text)
            .unwrap_or_else(|| "no error line in its output (see above)".into())
    })
}

/// Builds the workspace's crates with clippy-driver in rustc's place (what
/// `cargo clippy` does, for a check): it compiles as rustc does and adds
/// clippy's lints. The native tests' build thus lints the workspace (every
/// target `clippy --all-targets` checks, built in or out of test mode),
/// instead of a separate `cargo clippy` checking every dependency again,
/// which took a sixth of CI's time. Lints stay warnings here, so the tests
/// still run; the clippy row fails on any warning
/// ([`summary::build_warnings`]). Dependencies are built by rustc, as always.
fn lint_while_building(command: &mut Command) {
    command.env("RUSTC_WORKSPACE_WRAPPER", clippy_driver());
}

/// The toolchain's clippy-driver, beside its cargo (where `cargo clippy`
/// finds it); otherwise whichever is on PATH.
fn clippy_driver() -> std::path::PathBuf {
    let beside_cargo = std::env::var_os("CARGO").map(|cargo| {
        Path::new(&cargo).with_file_name(format!("clippy-driver{}", std::env::consts::EXE_SUFFIX))
    });
    match beside_cargo {
        Some(driver) if driver.exists() => driver,
        _ => "clippy-driver".into(),
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
