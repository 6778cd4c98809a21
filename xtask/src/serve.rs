//! `cargo xtask serve`: trunk builds the page, serves it and rebuilds on changes.

use std::{path::Path, process::Command};

use crate::{prereqs, process::run};

pub fn run_server(root: &Path, port: u16, dev: bool) -> anyhow::Result<()> {
    prereqs::ensure(root, &prereqs::Needs::serve())?;
    let url = format!("http://127.0.0.1:{port}/");
    println!("xtask: Sculpt will be served at {url} once trunk has built it (Ctrl-C stops).");
    let mut trunk = Command::new("trunk");
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
        trunk.arg("--release");
    }
    run(&mut trunk)
}
