//! The engine's entry point: trunk builds this binary as the page's Web
//! Worker (`data-type="worker"` in index.html).

#[cfg(target_arch = "wasm32")]
fn main() {
    sculpt_web::worker::start();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!(
        "sculpt-worker is the in-browser engine: run `cargo xtask serve` and open the printed URL."
    );
    std::process::exit(2);
}
