//! Counting tests from what the runners print, and the final summary line.

use std::{fmt, time::Duration};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub passed: u32,
    pub failed: u32,
    pub skipped: u32,
}

impl Counts {
    pub fn add(&mut self, other: Counts) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.skipped += other.skipped;
    }
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} passed, {} failed", self.passed, self.failed)?;
        if self.skipped > 0 {
            write!(f, ", {} skipped", self.skipped)?;
        }
        Ok(())
    }
}

/// A summary row's time column: `412 s (build 301 s)`, or `(above)` for a
/// row whose command's time is on the row before.
pub fn seconds(time: Option<(Duration, Option<Duration>)>) -> String {
    match time {
        None => "(above)".into(),
        Some((total, None)) => format!("{:>5.0} s", total.as_secs_f64()),
        Some((total, Some(build))) => format!(
            "{:>5.0} s (build {:.0} s)",
            total.as_secs_f64(),
            build.as_secs_f64()
        ),
    }
}

/// Sums libtest's `test result:` lines (cargo test, and wasm-bindgen-test's
/// runner, which prints the same), split by the test binary they came from:
/// the second count holds GPU test binaries, which by convention live in
/// `tests/gpu/` or `tests/gpu_*.rs` of their crate.
pub fn libtest(output: &str) -> (Counts, Counts) {
    let (mut other, mut gpu) = (Counts::default(), Counts::default());
    let mut in_gpu_binary = false;
    for line in output.lines() {
        let line = line.trim();
        // Cargo's "Running <source> (<binary>)", not the wasm runner's
        // "Running headless tests in Chrome…".
        if let Some(rest) = line
            .strip_prefix("Running ")
            .filter(|rest| rest.ends_with(')'))
        {
            in_gpu_binary = rest.starts_with("tests/gpu");
        } else if line.starts_with("Doc-tests ") {
            in_gpu_binary = false;
        } else if let Some(result) = line.strip_prefix("test result: ") {
            let counts = Counts {
                passed: count_before(result, "passed"),
                failed: count_before(result, "failed"),
                skipped: count_before(result, "ignored"),
            };
            if in_gpu_binary {
                gpu.add(counts);
            } else {
                other.add(counts);
            }
        }
    }
    (other, gpu)
}

/// libtest's `test result:` lines, one per test binary, with the binary's
/// name (its file name less cargo's hash: `gpu`, `sculpt_flux`).
pub fn libtest_per_binary(output: &str) -> Vec<(String, Counts)> {
    let mut binaries: Vec<(String, Counts)> = Vec::new();
    let mut current = String::new();
    for line in output.lines() {
        let line = line.trim();
        if let Some(rest) = line
            .strip_prefix("Running ")
            .and_then(|rest| rest.strip_suffix(')'))
            && let Some((_, binary)) = rest.rsplit_once(" (")
        {
            let file = binary.rsplit(['/', '\\']).next().unwrap_or(binary);
            let stem = file.split('.').next().unwrap_or(file);
            current = stem
                .rsplit_once('-')
                .map_or(stem, |(name, _)| name)
                .to_string();
        } else if let Some(result) = line.strip_prefix("test result: ") {
            binaries.push((
                current.clone(),
                Counts {
                    passed: count_before(result, "passed"),
                    failed: count_before(result, "failed"),
                    skipped: count_before(result, "ignored"),
                },
            ));
        }
    }
    binaries
}

/// Counts from node's test runner (`ℹ pass 3` with the spec reporter,
/// `# pass 3` with tap).
pub fn node_test(output: &str) -> Counts {
    let mut counts = Counts::default();
    for line in output.lines() {
        let line = line
            .trim()
            .trim_start_matches('ℹ')
            .trim_start_matches('#')
            .trim();
        let mut words = line.split_whitespace();
        let (Some(key), Some(value), None) = (words.next(), words.next(), words.next()) else {
            continue;
        };
        let Ok(value) = value.parse::<u32>() else {
            continue;
        };
        match key {
            "pass" => counts.passed += value,
            "fail" | "cancelled" => counts.failed += value,
            "skipped" | "todo" => counts.skipped += value,
            _ => {}
        }
    }
    counts
}

/// Why a command failed when no test said so (a build error, a crashed
/// binary): the line that most likely names the cause. A full disk or a
/// killed compiler comes first, since the build errors that follow only
/// repeat it.
pub fn first_error(output: &str) -> Option<String> {
    const MACHINE_TROUBLE: [&str; 4] = [
        "No space left on device",
        "out of memory",
        "SIGKILL",
        "signal: 9",
    ];
    let lines = || output.lines().map(str::trim);
    lines()
        .find(|line| MACHINE_TROUBLE.iter().any(|needle| line.contains(needle)))
        .or_else(|| lines().find(|line| line.starts_with("error")))
        .or_else(|| lines().find(|line| line.contains("panicked at")))
        .map(str::to_string)
}

/// What clippy says of a build run through clippy-driver: None when no
/// workspace crate had a warning and none failed to compile; otherwise the
/// first warning or error. Only the build's part of the output counts (up to
/// the first test binary's `Running` line): tests may print anything.
pub fn build_warnings(output: &str) -> Option<String> {
    let build: Vec<&str> = output
        .lines()
        .map(str::trim)
        .take_while(|line| !line.starts_with("Running "))
        .collect();
    // Cargo's tally per crate, e.g. "warning: `sculpt-gpu` (lib test) generated 2 warnings".
    let tally = |line: &str| line.starts_with("warning: `") && line.contains(") generated ");
    let failed = |line: &str| line.starts_with("error");
    if !build.iter().any(|line| tally(line) || failed(line)) {
        return None;
    }
    // The first error, else the first lint's own line, else a tally.
    let first = |wanted: &dyn Fn(&str) -> bool| build.iter().copied().find(|line| wanted(line));
    first(&failed)
        .or_else(|| first(&|line| line.starts_with("warning") && !tally(line)))
        .or_else(|| first(&tally))
        .map(str::to_string)
}

/// The number just before `word` in a phrase like "12 passed; 0 failed".
fn count_before(text: &str, word: &str) -> u32 {
    text.split([';', '.'])
        .filter_map(|part| {
            let mut words = part.split_whitespace();
            let number = words.next()?.parse().ok()?;
            (words.next()? == word).then_some(number)
        })
        .next()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libtest_results_are_split_by_binary() {
        let output = "\
     Running unittests src/lib.rs (target/debug/deps/sculpt_gpu-1)
running 3 tests
test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.00s
     Running tests/gpu/main.rs (target/debug/deps/gpu-2)
test result: FAILED. 4 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.3s
   Doc-tests sculpt_gpu
test result: ok. 5 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s
";
        let (other, gpu) = libtest(output);
        assert_eq!(
            other,
            Counts {
                passed: 8,
                failed: 0,
                skipped: 1
            }
        );
        assert_eq!(
            gpu,
            Counts {
                passed: 4,
                failed: 2,
                skipped: 0
            }
        );
    }

    #[test]
    fn wasm_bindgen_test_runner_output_counts_as_gpu_binary() {
        let output = "\
     Running tests/gpu/main.rs (target/wasm32-unknown-unknown/debug/deps/gpu-3.wasm)
Running headless tests in Chrome on `http://127.0.0.1:39703/`
test result: ok. 4 passed; 0 failed; 0 ignored; 0 filtered out; finished in 1.52s
";
        let (other, gpu) = libtest(output);
        assert_eq!(other, Counts::default());
        assert_eq!(gpu.passed, 4);
    }

    #[test]
    fn libtest_results_per_binary() {
        let output = "\
     Running tests/gpu/main.rs (target/wasm32-unknown-unknown/debug/deps/gpu-3a.wasm)
Running headless tests in Chrome on `http://127.0.0.1:39703/`
test result: ok. 4 passed; 0 failed; 0 ignored; 0 filtered out; finished in 1.52s
     Running tests/gpu_browser_flux.rs (target/wasm32-unknown-unknown/debug/deps/gpu_browser_flux-9b.wasm)
test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 filtered out; finished in 9.1s
";
        let binaries = libtest_per_binary(output);
        assert_eq!(binaries.len(), 2);
        assert_eq!(binaries[0].0, "gpu");
        assert_eq!(binaries[0].1.passed, 4);
        assert_eq!(binaries[1].0, "gpu_browser_flux");
        assert_eq!(binaries[1].1.failed, 1);
    }

    #[test]
    fn node_spec_and_tap_reporters() {
        let spec =
            "ℹ tests 5\nℹ suites 0\nℹ pass 4\nℹ fail 1\nℹ cancelled 0\nℹ skipped 2\nℹ todo 0\n";
        assert_eq!(
            node_test(spec),
            Counts {
                passed: 4,
                failed: 1,
                skipped: 2
            }
        );
        let tap = "# tests 2\n# pass 2\n# fail 0\n";
        assert_eq!(node_test(tap).passed, 2);
        // Test names that happen to start with a count word are not counts.
        assert_eq!(
            node_test("✔ pass the prompt through (12ms)\n"),
            Counts::default()
        );
    }

    #[test]
    fn first_error_prefers_what_the_machine_ran_out_of() {
        let build = "\
   Compiling sculpt-gpu v0.1.0
error: failed to write bytecode to ./target/debug/deps/x.o: No space left on device (os error 28)
error: could not compile `sculpt-gpu` (lib) due to 1 previous error
";
        assert_eq!(
            first_error(build).as_deref(),
            Some(
                "error: failed to write bytecode to ./target/debug/deps/x.o: \
                 No space left on device (os error 28)"
            )
        );
        let compile = "warning: unused\nerror[E0308]: mismatched types\nerror: could not compile\n";
        assert_eq!(
            first_error(compile).as_deref(),
            Some("error[E0308]: mismatched types")
        );
        let crash = "running 3 tests\nthread 'main' panicked at src/lib.rs:3:5:\n";
        assert_eq!(
            first_error(crash).as_deref(),
            Some("thread 'main' panicked at src/lib.rs:3:5:")
        );
        assert_eq!(first_error("all fine\n"), None);
    }

    #[test]
    fn build_warnings_count_only_the_build() {
        let clean = "\
   Compiling sculpt-gpu v0.1.0
    Finished `test` profile [unoptimized + debuginfo] target(s) in 3.2s
     Running unittests src/lib.rs (target/debug/deps/sculpt_gpu-1)
warning: a test printed this
";
        assert_eq!(build_warnings(clean), None);
        let linted = "\
   Compiling sculpt-gpu v0.1.0
warning: this `if` has identical blocks
  --> crates/sculpt-gpu/src/lib.rs:3:5
warning: `sculpt-gpu` (lib test) generated 1 warning
    Finished `test` profile [unoptimized + debuginfo] target(s) in 3.2s
     Running unittests src/lib.rs (target/debug/deps/sculpt_gpu-1)
";
        assert_eq!(
            build_warnings(linted).as_deref(),
            Some("warning: this `if` has identical blocks")
        );
        let denied = "\
error: this comparison involving the minimum or maximum element for this type contains a case that is always true or always false
error: could not compile `sculpt-gpu` (lib) due to 1 previous error
";
        assert!(
            build_warnings(denied)
                .unwrap()
                .starts_with("error: this comparison")
        );
    }

    #[test]
    fn time_column() {
        let secs = Duration::from_secs_f64;
        assert_eq!(seconds(Some((secs(412.4), None))), "  412 s");
        assert_eq!(
            seconds(Some((secs(412.6), Some(secs(300.9))))),
            "  413 s (build 301 s)"
        );
        assert_eq!(seconds(None), "(above)");
    }

    #[test]
    fn summary_line_mentions_skips_only_when_there_are_some() {
        let counts = Counts {
            passed: 7,
            failed: 1,
            skipped: 0,
        };
        assert_eq!(counts.to_string(), "7 passed, 1 failed");
        let counts = Counts {
            skipped: 2,
            ..counts
        };
        assert_eq!(counts.to_string(), "7 passed, 1 failed, 2 skipped");
    }
}
