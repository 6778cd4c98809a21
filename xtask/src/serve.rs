//! `cargo xtask serve`: trunk builds the page and serves it.
//!
//! By default it serves what a static host would: the release build, with no
//! live-reload script (whose socket logs an error on every load without the
//! server, such as offline) and no fallback to index.html for a missing
//! file. `--dev` is the developer's loop: an unoptimized build that reloads
//! the page when a source changes.

use std::path::Path;

use crate::{prereqs, process::run};

pub fn run_server(root: &Path, port: u16, dev: bool) -> anyhow::Result<()> {
    prereqs::ensure(root, &prereqs::Needs::serve())?;
    let url = format!("http://127.0.0.1:{port}/");
    println!("xtask: Sculpt will be served at {url} once trunk has built it (Ctrl-C stops).");
    let mut trunk = prereqs::trunk(root);
    trunk
        .args([
            "serve",
            "--offline",
            "--disable-address-lookup",
            "--address",
            "127.0.0.1",
            "--port",
        ])
        .arg(port.to_string());
    if !dev {
        trunk.args([
            "--release",
            "--no-autoreload",
            "--no-error-reporting",
            "--no-spa",
        ]);
    }
    run(&mut trunk)
}
