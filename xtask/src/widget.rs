//! `cargo xtask widget [--out target/sculpt-widget]`: the blog widget's
//! folder, ready to copy to any static host or CDN. trunk builds the site
//! (release), and the widget's files are copied out of it: the element's
//! script, the engine (its script, wasm and same-origin loader), the
//! built-in model's manifest and the files it lists, the iframe page and
//! the sample post. The widget finds everything relative to its script's
//! address, so the folder works wherever it is put.

use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context, bail};

use crate::{prereqs, process::run};

/// The site's files the widget needs, as trunk writes them.
const FILES: &[&str] = &[
    "sculpt-widget.js",
    "sculpt-worker.js",
    "sculpt-worker_bg.wasm",
    "sculpt-worker_loader.js",
    "widget.html",
    "widget-frame.js",
    "widget-frame.css",
    "widget-demo.html",
    "widget-demo.css",
];
const MODEL: &str = "models/sculpt-tiny";

pub fn build_folder(root: &Path, out: &Path) -> anyhow::Result<()> {
    prereqs::ensure(root, &prereqs::Needs::serve())?;
    const DIST: &str = "target/widget-dist";
    run(prereqs::trunk(root).args(["build", "--release", "--offline", "--dist", DIST]))?;
    let dist = root.join(DIST);
    if out.exists() {
        fs::remove_dir_all(out).with_context(|| format!("emptying {}", out.display()))?;
    }
    fs::create_dir_all(out.join(MODEL))?;
    let mut paths: Vec<PathBuf> = FILES.iter().map(PathBuf::from).collect();
    paths.push(Path::new(MODEL).join("manifest.json"));
    paths.extend(model_files(&dist.join(MODEL).join("manifest.json"))?);
    let mut bytes = 0;
    for path in &paths {
        bytes += fs::copy(dist.join(path), out.join(path))
            .with_context(|| format!("copying {} from {}", path.display(), dist.display()))?;
    }
    println!(
        "xtask: the widget's folder is {} ({} files, {:.1} MB). Copy it to a static host that \
         sends Access-Control-Allow-Origin: * with its files, then embed:\n\n  \
         <script type=\"module\" src=\"https://your.host/sculpt/sculpt-widget.js\"></script>\n  \
         <sculpt-image prompt=\"a yellow star on a blue background\" seed=\"7\" steps=\"8\"></sculpt-image>",
        out.display(),
        paths.len(),
        bytes as f64 / 1e6
    );
    Ok(())
}

/// The files the built-in model's manifest lists, as paths from the site's root.
fn model_files(manifest: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let text =
        fs::read_to_string(manifest).with_context(|| format!("reading {}", manifest.display()))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("reading {}", manifest.display()))?;
    let files: Vec<PathBuf> = json["files"]
        .as_object()
        .into_iter()
        .flat_map(|files| files.values())
        .filter_map(|file| file["path"].as_str())
        .map(|name| Path::new(MODEL).join(name))
        .collect();
    if files.is_empty() {
        bail!("{} lists no files", manifest.display());
    }
    Ok(files)
}
