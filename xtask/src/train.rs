//! `cargo xtask train-tiny`: the built-in model's whole recipe, from nothing to the files under
//! models/sculpt-tiny. The training itself is PyTorch on the CPU (xtask/train/*.py) in a venv
//! of pinned packages under target/train/venv; the transformer is packed to Q8_0 GGUF by
//! sculpt-flux's `pack_builtin` example. See models/sculpt-tiny/MODEL.md.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use crate::process::run;

const EMOJI_FONT: &str = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf";
const EMOJI_FONT_PACKAGE: &str = "fonts-noto-color-emoji";

/// The packages the recipe was run with, all from PyPI (pip's configured index). PyTorch's own
/// CPU-only wheel index would save a download of CUDA libraries the CPU run never loads, but
/// machines that reach only the package registries cannot reach it.
const PACKAGES: [&str; 7] = [
    "torch==2.15.0",
    "numpy==2.4.6",
    "pillow==13.0.0",
    "safetensors==0.8.0",
    "tokenizers==0.23.3",
    "fonttools==4.68.0",
    // GGUF's reader, for from_shipped.py (a sitting that continues from the shipped transformer).
    "gguf==0.19.0",
];

pub struct Options {
    pub out: PathBuf,
    pub scenes: u32,
    pub ae_steps: u32,
    pub flux_steps: u32,
    pub threads: u32,
    pub export_only: bool,
    pub resume: bool,
}

pub fn run_recipe(root: &Path, options: &Options) -> anyhow::Result<()> {
    ensure_font()?;
    let python = ensure_venv(root)?;
    let script = |name: &str| root.join("xtask/train").join(name);
    let out = root.join(&options.out);
    let out_arg = out.to_string_lossy().into_owned();
    if !options.export_only {
        let mut command = Command::new(&python);
        command
            .arg(script("train.py"))
            .arg(if options.resume { "flux" } else { "all" })
            .args(["--out", &out_arg])
            .args(["--scenes", &options.scenes.to_string()])
            .args(["--ae-steps", &options.ae_steps.to_string()])
            .args(["--steps", &options.flux_steps.to_string()])
            .args(["--threads", &options.threads.to_string()]);
        if options.resume {
            command.arg("--resume");
        }
        run(&mut command)?;
    }
    let models = root.join("models/sculpt-tiny");
    std::fs::create_dir_all(&models)?;
    let models_arg = models.to_string_lossy().into_owned();
    run(Command::new(&python).arg(script("export.py")).args([
        "ship",
        "--train-dir",
        &out_arg,
        "--out",
        &models_arg,
    ]))?;
    run(Command::new(env!("CARGO"))
        .args([
            "run",
            "-q",
            "-p",
            "sculpt-flux",
            "--example",
            "pack_builtin",
            "--",
        ])
        .arg(out.join("flux.safetensors"))
        .arg(models.join("transformer.gguf")))?;
    run(Command::new(&python).arg(script("export.py")).args([
        "manifest",
        "--train-dir",
        &out_arg,
        "--out",
        &models_arg,
    ]))?;
    // The trained model's own outputs, for the Rust check of the shipped files.
    std::fs::copy(
        out.join("reference.safetensors"),
        root.join("crates/sculpt-flux/tests/data/builtin-reference.safetensors"),
    )?;
    for (from, to) in [
        ("flux-loss.png", "loss-curve.png"),
        ("ae-loss.png", "ae-loss-curve.png"),
        ("shipped-samples-20steps.png", "samples-20-steps.png"),
        ("shipped-samples-4steps.png", "samples-4-steps.png"),
    ] {
        let from = out.join(from);
        if from.exists() {
            std::fs::copy(&from, models.join(to))?;
        }
    }
    println!(
        "xtask: models/sculpt-tiny written; check it with\n    \
         XDG_RUNTIME_DIR=/tmp/xdg cargo test -p sculpt-flux --test builtin_model"
    );
    Ok(())
}

pub(crate) fn ensure_font() -> anyhow::Result<()> {
    if Path::new(EMOJI_FONT).exists() {
        return Ok(());
    }
    crate::prereqs::install_debian_packages(&[EMOJI_FONT_PACKAGE])?;
    if !Path::new(EMOJI_FONT).exists() {
        bail!("{EMOJI_FONT_PACKAGE} is installed but {EMOJI_FONT} is missing");
    }
    Ok(())
}

/// The venv's python: `SCULPT_TRAIN_PYTHON` if set (an existing environment), else
/// target/train/venv, created and filled with the pinned packages on first use.
pub(crate) fn ensure_venv(root: &Path) -> anyhow::Result<PathBuf> {
    if let Some(python) = std::env::var_os("SCULPT_TRAIN_PYTHON") {
        return Ok(PathBuf::from(python));
    }
    let venv = root.join("target/train/venv");
    let python = venv.join("bin/python");
    let stamp = venv.join("sculpt-packages.txt");
    let wanted = format!("{}\n", PACKAGES.join("\n"));
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        return Ok(python);
    }
    let python3 = crate::process::first_line("sh", &["-c", "command -v python3"])
        .context("python3 is needed to create the training venv (Debian: python3 python3-venv)")?;
    run(Command::new(python3).args(["-m", "venv"]).arg(&venv))?;
    run(Command::new(&python)
        .args(["-m", "pip", "install", "-q"])
        .args(PACKAGES))?;
    std::fs::write(&stamp, wanted)?;
    Ok(python)
}
