//! Running child processes with their output both shown live and kept.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};

/// What a finished command printed (stdout and stderr interleaved as they
/// came), whether it succeeded, and how long it took.
pub struct Output {
    pub success: bool,
    pub text: String,
    /// Wall-clock time from start to exit.
    pub elapsed: Duration,
    /// When the first test binary started (cargo's `Running …` line): the
    /// time before it is the build's. None when no binary ran.
    pub build: Option<Duration>,
}

/// Runs `command`, echoing its output line by line, and returns all of it.
pub fn run_captured(mut command: Command) -> anyhow::Result<Output> {
    echo(&command);
    let start = Instant::now();
    let (reader, writer) = std::io::pipe().context("creating a pipe")?;
    command
        .stdin(Stdio::null())
        .stdout(writer.try_clone().context("cloning a pipe")?)
        .stderr(writer);
    let mut child = command
        .spawn()
        .with_context(|| format!("starting {}", describe(&command)))?;
    // `command` holds the pipe's write ends: drop them, or reading never ends.
    drop(command);
    let mut text = String::new();
    let mut build = None;
    for line in BufReader::new(reader).lines() {
        let line = line.unwrap_or_else(|e| format!("<unreadable output: {e}>"));
        println!("{line}");
        if build.is_none() && line.trim_start().starts_with("Running ") {
            build = Some(start.elapsed());
        }
        text.push_str(&line);
        text.push('\n');
    }
    let status = child.wait()?;
    Ok(Output {
        success: status.success(),
        text,
        elapsed: start.elapsed(),
        build,
    })
}

/// Runs `command` with inherited output; fails if it fails.
pub fn run(command: &mut Command) -> anyhow::Result<()> {
    echo(command);
    let status = command
        .status()
        .with_context(|| format!("starting {}", describe(command)))?;
    if !status.success() {
        bail!("{} failed ({status})", describe(command));
    }
    Ok(())
}

/// The first line a command prints to stdout, or None if it cannot run.
pub fn first_line(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program)
        .args(args)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .next()
        .map(|line| line.trim().to_string())
}

fn echo(command: &Command) {
    println!("\n$ {}", describe(command));
}

pub fn describe(command: &Command) -> String {
    let mut text = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}
