//! `cargo xtask eval-tiny`: the built-in model's measured quality (crates/sculpt-eval). The
//! reference glyphs and training scenes are drawn first by the training data's own code
//! (xtask/train/eval_reference.py, in the training venv); `--quick` (CI's regression subset)
//! needs no Python.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::bail;

use crate::prereqs::{self, Needs};
use crate::process::run;

pub struct Options {
    pub model: Option<PathBuf>,
    pub prompts: Option<usize>,
    pub steps: Option<usize>,
    pub few_steps: Option<usize>,
    pub emoji: Option<usize>,
    pub quick: bool,
}

const OUT: &str = "target/eval";

pub fn run_eval(root: &Path, options: &Options) -> anyhow::Result<()> {
    prereqs::ensure(
        root,
        &Needs {
            vulkan: true,
            ..Needs::default()
        },
    )?;
    let reference = root.join(OUT).join("reference");
    if !options.quick {
        crate::train::ensure_font()?;
        let python = crate::train::ensure_venv(root)?;
        run(Command::new(python)
            .arg(root.join("xtask/train/eval_reference.py"))
            .arg(&reference))?;
    }
    let runtime_dir = root.join("target/xdg-runtime");
    std::fs::create_dir_all(&runtime_dir)?;
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command
        .args([
            "run",
            "--release",
            "--locked",
            "--quiet",
            "--package=sculpt-eval",
            "--",
        ])
        .arg("--out")
        .arg(root.join(OUT))
        .arg("--reference")
        .arg(&reference)
        .env("XDG_RUNTIME_DIR", &runtime_dir);
    if let Some(model) = &options.model {
        command.arg("--model").arg(model);
    }
    for (flag, value) in [
        ("--prompts", options.prompts),
        ("--steps", options.steps),
        ("--few-steps", options.few_steps),
        ("--emoji", options.emoji),
    ] {
        if let Some(value) = value {
            command.arg(flag).arg(value.to_string());
        }
    }
    if options.quick {
        command.arg("--quick");
    }
    if !command.status()?.success() {
        bail!("sculpt-eval failed (see above)");
    }
    Ok(())
}
