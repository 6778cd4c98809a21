//! `cargo xtask bench --cpu-wasm`: the CPU engine's step with the built-in
//! model in wasm (Node's V8, the engine Chromium runs the worker with)
//! against the same step natively on one thread and on every core, and
//! where the wasm step's time goes (V8's sampling profiler, self time by
//! function). The example `sculpt-flux/examples/cpu_steps.rs` is what runs
//! on both sides. The Markdown goes to target/bench/cpu-wasm.md.

use std::{collections::HashMap, fmt::Write as _, path::Path, process::Command};

use anyhow::{Context, bail};
use serde_json::Value;

use crate::{
    prereqs::{self, Needs},
    process::{run, run_captured},
};

/// Generations timed on each side (20 steps each).
const RUNS: usize = 3;
/// Functions listed from the profile.
const TOP: usize = 25;

pub fn run_bench(root: &Path) -> anyhow::Result<()> {
    prereqs::ensure(
        root,
        &Needs {
            wasm: true,
            node: true,
            ..Needs::default()
        },
    )?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let example = [
        "--release",
        "--locked",
        "--quiet",
        "--package=sculpt-flux",
        "--features=cpu",
        "--example=cpu_steps",
    ];
    run(Command::new(&cargo)
        .arg("build")
        .args(example)
        .arg("--target=wasm32-unknown-unknown"))?;
    let out = root.join("target/bench/cpu-wasm");
    if out.exists() {
        std::fs::remove_dir_all(&out)?;
    }
    std::fs::create_dir_all(&out)?;
    // Keep the function names for the profile.
    run(Command::new("wasm-bindgen")
        .args(["--target=nodejs", "--keep-debug", "--out-dir"])
        .arg(&out)
        .arg(root.join("target/wasm32-unknown-unknown/release/examples/cpu_steps.wasm")))?;
    let script = format!(
        "console.log(require({:?}).run({RUNS}))",
        out.join("cpu_steps.js").display()
    );
    let mut node = Command::new("node");
    node.args(["--cpu-prof", "--cpu-prof-interval=250", "--cpu-prof-dir"])
        .arg(&out)
        .args(["-e", &script]);
    let wasm = measured(node)?;

    let native = |threads: Option<usize>| {
        let mut command = Command::new(&cargo);
        command
            .arg("run")
            .args(example)
            .args(["--", &RUNS.to_string()]);
        if let Some(threads) = threads {
            command.env("RAYON_NUM_THREADS", threads.to_string());
        }
        measured(command)
    };
    let one_thread = native(Some(1))?;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let every_core = native(None)?;

    let profile = std::fs::read_dir(&out)?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|e| e == "cpuprofile"))
        .context("node wrote no .cpuprofile")?;
    let profile: Value = serde_json::from_slice(&std::fs::read(&profile)?)?;

    let mut md = String::new();
    writeln!(
        md,
        "| the built-in model's CPU step (median of {} steps) | step ms | preview frame ms |",
        wasm.steps
    )?;
    writeln!(md, "| --- | --- | --- |")?;
    for (what, m) in [
        (
            "native, 1 thread (RAYON_NUM_THREADS=1)".to_string(),
            &one_thread,
        ),
        (format!("native, {cores} threads"), &every_core),
        ("wasm32 + SIMD128 in Node (V8)".to_string(), &wasm),
    ] {
        writeln!(md, "| {what} | {:.1} | {:.2} |", m.step_ms, m.preview_ms)?;
    }
    writeln!(
        md,
        "\nwasm ÷ native on one thread: ×{:.2}\n",
        wasm.step_ms / one_thread.step_ms
    )?;
    writeln!(
        md,
        "Where the wasm run's time goes (V8's sampling profiler, self time; the run includes opening the model):\n"
    )?;
    writeln!(md, "| share | ms | function |\n| --- | --- | --- |")?;
    for (name, share, ms) in self_times(&profile)?.into_iter().take(TOP) {
        writeln!(
            md,
            "| {:.1}% | {ms:.0} | `{}` |",
            share * 100.0,
            short(&name)
        )?;
    }
    let file = root.join("target/bench/cpu-wasm.md");
    std::fs::write(&file, &md).with_context(|| format!("writing {}", file.display()))?;
    println!("{md}\nxtask: kept in {}", file.display());
    Ok(())
}

struct Measured {
    step_ms: f64,
    preview_ms: f64,
    steps: u64,
}

/// Runs the example and reads the JSON object it prints.
fn measured(command: Command) -> anyhow::Result<Measured> {
    let output = run_captured(command)?;
    if !output.success {
        bail!("the cpu_steps example failed:\n{}", output.text);
    }
    let line = output
        .text
        .lines()
        .rev()
        .find(|line| line.starts_with('{'))
        .context("the cpu_steps example printed no JSON")?;
    let json: Value = serde_json::from_str(line)?;
    let number = |key: &str| {
        json[key]
            .as_f64()
            .with_context(|| format!("the example's JSON has no {key}"))
    };
    Ok(Measured {
        step_ms: number("step_ms")?,
        preview_ms: number("frame_preview_ms")?,
        steps: json["steps"].as_u64().unwrap_or(0),
    })
}

/// (function, share of all samples, ms) by self time, largest first.
fn self_times(profile: &Value) -> anyhow::Result<Vec<(String, f64, f64)>> {
    let nodes = profile["nodes"].as_array().context("a profile has nodes")?;
    let name_of: HashMap<u64, String> = nodes
        .iter()
        .filter_map(|node| {
            let frame = &node["callFrame"];
            let name = frame["functionName"].as_str().filter(|n| !n.is_empty());
            let name = name.or(frame["url"].as_str()).unwrap_or("(unknown)");
            Some((node["id"].as_u64()?, name.to_string()))
        })
        .collect();
    let samples = profile["samples"]
        .as_array()
        .context("a profile has samples")?;
    let deltas = profile["timeDeltas"]
        .as_array()
        .context("a profile has timeDeltas")?;
    let mut micros: HashMap<&str, f64> = HashMap::new();
    for (sample, delta) in samples.iter().zip(deltas) {
        if let Some(name) = sample.as_u64().and_then(|id| name_of.get(&id)) {
            *micros.entry(name).or_default() += delta.as_f64().unwrap_or(0.0);
        }
    }
    let total: f64 = micros.values().sum();
    let mut rows: Vec<_> = micros
        .into_iter()
        .map(|(name, us)| (name.to_string(), us / total.max(1.0), us / 1e3))
        .collect();
    rows.sort_by(|a, b| b.2.total_cmp(&a.2));
    Ok(rows)
}

/// A Rust symbol without its hash and crate disambiguators.
fn short(name: &str) -> String {
    let mut name = name.to_string();
    if let Some(hash) = name.rfind("::h")
        && name[hash + 3..].chars().all(|c| c.is_ascii_hexdigit())
    {
        name.truncate(hash);
    }
    // `crate[0123abcd]::` → `crate::`
    let mut short = String::with_capacity(name.len());
    let mut rest = name.as_str();
    while let Some(open) = rest.find('[') {
        let close = rest[open..].find(']').map(|c| open + c);
        match close {
            Some(close) if rest[open + 1..close].chars().all(|c| c.is_ascii_hexdigit()) => {
                short.push_str(&rest[..open]);
                rest = &rest[close + 1..];
            }
            _ => {
                short.push_str(&rest[..=open]);
                rest = &rest[open + 1..];
            }
        }
    }
    short.push_str(rest);
    short.replace('|', "\\|")
}
