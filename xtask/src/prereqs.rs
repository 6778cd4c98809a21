//! Installing what the commands need, once: Debian packages, the wasm32
//! target, trunk, wasm-bindgen-cli and the end-to-end tests' npm packages.
//! Whatever is already there (and the right version) is reused.

use std::{path::Path, process::Command};

use anyhow::{Context, bail};

use crate::process::{first_line, run};

/// The trunk release the page is built with (0.22 needs a newer rustc).
pub const TRUNK_VERSION: &str = "0.21.14";
const MIN_NODE_MAJOR: u32 = 18;

/// What a command needs; `ensure` installs the union.
#[derive(Clone, Copy, Default)]
pub struct Needs {
    /// rustfmt and clippy.
    pub lint: bool,
    /// The wasm32 target and wasm-bindgen-cli (bindgen and the test runner).
    pub wasm: bool,
    /// trunk, to build the page.
    pub trunk: bool,
    /// Chromium and chromedriver, for wasm tests and end-to-end tests.
    pub browser: bool,
    /// A Vulkan driver; lavapipe runs the native GPU tests without a GPU.
    pub vulkan: bool,
    /// Node.js and the end-to-end tests' npm packages.
    pub node: bool,
}

impl Needs {
    pub fn all() -> Self {
        Self {
            lint: true,
            wasm: true,
            trunk: true,
            browser: true,
            vulkan: true,
            node: true,
        }
    }

    pub fn serve() -> Self {
        Self {
            wasm: true,
            trunk: true,
            ..Self::default()
        }
    }
}

/// Debian package → a file it installs, to tell whether it is there.
const CHROMIUM: (&str, &str) = ("chromium", "/usr/bin/chromium");
const CHROMEDRIVER: (&str, &str) = ("chromium-driver", "/usr/bin/chromedriver");
const LAVAPIPE: (&str, &str) = (
    "mesa-vulkan-drivers",
    "/usr/share/vulkan/icd.d/lvp_icd.x86_64.json",
);
const NODE: (&str, &str) = ("nodejs", "/usr/bin/node");
const NPM: (&str, &str) = ("npm", "/usr/bin/npm");

pub fn ensure(root: &Path, needs: &Needs) -> anyhow::Result<()> {
    let mut missing_packages = Vec::new();
    let mut want = |needed: bool, (package, file): (&'static str, &'static str)| {
        if needed && !Path::new(file).exists() {
            missing_packages.push(package);
        }
    };
    want(needs.browser, CHROMIUM);
    want(needs.browser, CHROMEDRIVER);
    want(needs.vulkan, LAVAPIPE);
    // trunk runs binaryen's wasm-opt, an npm package, on the release wasm.
    let needs_node = needs.node || needs.trunk;
    let node_ok = !needs_node || node_major().is_some_and(|major| major >= MIN_NODE_MAJOR);
    if !node_ok {
        // Debian's node, when there is none (or an old one) on PATH.
        want(true, NODE);
        want(true, NPM);
    }
    install_debian_packages(&missing_packages)?;
    if needs_node && node_major().is_none_or(|major| major < MIN_NODE_MAJOR) {
        bail!(
            "Node.js {MIN_NODE_MAJOR} or newer is needed to build the page and for the end-to-end tests; `node --version` says {:?}",
            first_line("node", &["--version"])
        );
    }

    if needs.lint {
        ensure_rustup_components(&["rustfmt", "clippy"])?;
    }
    if needs.wasm || needs.trunk {
        ensure_wasm_target()?;
        ensure_cargo_tool(
            "wasm-bindgen",
            "wasm-bindgen-cli",
            &locked_version(root, "wasm-bindgen")?,
            false,
        )?;
    }
    if needs.trunk {
        ensure_cargo_tool("trunk", "trunk", TRUNK_VERSION, true)?;
        ensure_npm_packages(&root.join(BUILD_TOOLS))?;
    }
    if needs.node {
        ensure_npm_packages(&root.join("tests/e2e"))?;
    }
    Ok(())
}

fn is_root() -> bool {
    first_line("id", &["-u"]).as_deref() == Some("0")
}

pub(crate) fn install_debian_packages(packages: &[&str]) -> anyhow::Result<()> {
    if packages.is_empty() {
        return Ok(());
    }
    let list = packages.join(" ");
    if !is_root() {
        bail!(
            "missing Debian packages: {list}\n\
             Install them as root, then run this again:\n    \
             sudo apt-get update && sudo apt-get install -y {list}"
        );
    }
    println!("xtask: installing Debian packages: {list}");
    run(Command::new("apt-get").arg("update").arg("-q"))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-q"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

fn node_major() -> Option<u32> {
    let version = first_line("node", &["--version"])?;
    version
        .trim_start_matches('v')
        .split('.')
        .next()?
        .parse()
        .ok()
}

fn ensure_rustup_components(components: &[&str]) -> anyhow::Result<()> {
    let installed = Command::new("rustup")
        .args(["component", "list", "--installed"])
        .output()
        .context("running rustup (Sculpt expects rustup's toolchain)")?;
    let installed = String::from_utf8_lossy(&installed.stdout);
    let missing: Vec<&str> = components
        .iter()
        .copied()
        .filter(|component| !installed.lines().any(|line| line.starts_with(component)))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    run(Command::new("rustup")
        .args(["component", "add"])
        .args(&missing))
}

fn ensure_wasm_target() -> anyhow::Result<()> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("running rustup (Sculpt expects rustup's toolchain)")?;
    if String::from_utf8_lossy(&installed.stdout)
        .lines()
        .any(|line| line.trim() == "wasm32-unknown-unknown")
    {
        return Ok(());
    }
    run(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))
}

/// Installs `krate` at exactly `version` unless `binary --version` already says so.
fn ensure_cargo_tool(binary: &str, krate: &str, version: &str, locked: bool) -> anyhow::Result<()> {
    let found = first_line(binary, &["--version"]);
    if found
        .as_deref()
        .is_some_and(|line| line.split_whitespace().nth(1) == Some(version))
    {
        return Ok(());
    }
    println!(
        "xtask: installing {krate} {version} (found: {}); this takes a few minutes once",
        found.as_deref().unwrap_or("none")
    );
    let mut command = Command::new("cargo");
    command.args(["install", krate, "--version", version, "--force"]);
    // wasm-bindgen-cli's own lock file names crate versions the registry
    // mirror lacks, so it installs without --locked.
    if locked {
        command.arg("--locked");
    }
    run(&mut command)
}

/// The version of `package` recorded in Cargo.lock.
pub fn locked_version(root: &Path, package: &str) -> anyhow::Result<String> {
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).context("reading Cargo.lock")?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == format!("name = \"{package}\"")
            && let Some(version) = lines
                .next()
                .and_then(|line| line.strip_prefix("version = \""))
                .and_then(|rest| rest.strip_suffix('"'))
        {
            return Ok(version.to_string());
        }
    }
    bail!("Cargo.lock has no {package} package")
}

/// The npm package of the tools the page's build runs (binaryen's wasm-opt).
const BUILD_TOOLS: &str = "xtask/npm";

/// trunk, able to find the build tools' wasm-opt (at the version Trunk.toml
/// pins, so that it never downloads one): their bin folder leads PATH.
pub fn trunk(root: &Path) -> Command {
    let bin = root.join(BUILD_TOOLS).join("node_modules/.bin");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let path = std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(&path)))
        .expect("PATH's folders join again");
    let mut trunk = Command::new("trunk");
    trunk.env("PATH", path);
    trunk
}

/// `npm ci` in `dir`, unless node_modules was installed from exactly the
/// committed package-lock.json (recorded in a stamp after each install).
fn ensure_npm_packages(dir: &Path) -> anyhow::Result<()> {
    let lock = std::fs::read(dir.join("package-lock.json"))
        .with_context(|| format!("reading {}/package-lock.json", dir.display()))?;
    let stamp = dir.join("node_modules/.installed-from-package-lock.json");
    if std::fs::read(&stamp).is_ok_and(|installed| installed == lock) {
        return Ok(());
    }
    run(Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir))?;
    std::fs::write(&stamp, &lock).context("writing the npm install stamp")
}
