//! The page's entry point (trunk builds this binary for wasm32).

#[cfg(target_arch = "wasm32")]
fn main() {
    sculpt_web::start();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!(
        "sculpt-web is the in-browser app: run `cargo xtask serve` and open the printed URL."
    );
    std::process::exit(2);
}
