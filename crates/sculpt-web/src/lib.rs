//! # sculpt-web
//!
//! Sculpt's in-browser app, compiled to WebAssembly and built by trunk from the
//! repository's `index.html`: an engine, and the surfaces that use it.
//!
//! **The engine** runs in a Web Worker ([`worker`]: the GPU engine, the CPU
//! fallback, imports) behind one message boundary ([`protocol`]: every
//! message, typed, encoded and decoded there), reading from the [`sources`]
//! an import or a generation needs (a chosen file, a web address, the
//! IndexedDB [`store`], which also keeps the generator's history). A surface starts it
//! with [`engine_client::EngineClient`], which hands it a canvas and
//! delivers its replies; the client knows nothing of any page.
//!
//! **The surfaces** use the engine and nothing else of each other. Today
//! there is one, the generator page (`page`: its shell, the Generate and
//! Models surfaces, "About this device"). Dependencies point one way: the
//! shell starts the engine client and owns the panels; a panel sends
//! requests through the page's `Session` and is shown the replies by the
//! shell, never calling back into it.
//!
//! **Where a new surface goes.** A view of the generator page (the
//! visualizer) is a module under `page/`, one `<section data-surface>` with
//! its link in index.html's `<nav id="surfaces">`, and its replies routed by
//! the shell. A surface of its own (the embeddable widget) is a module
//! beside `page/` with its own entry point, starting its own
//! [`engine_client::EngineClient`].
//!
//! **Must not:** compute. Kernels live in `sculpt-gpu`, models and the
//! generation pipelines (GPU and CPU) in `sculpt-flux`; this crate calls them
//! from its worker and shows what they produce. It never leaves the page
//! blank: every failure ends up as a message in `#error`.
//!
//! The [`store`] (model files in IndexedDB, chunked and hashed) builds
//! everywhere so that its logic is tested natively; the rest of the app
//! exists only for `wasm32-unknown-unknown`, and natively the crate is just
//! the store and the protocol, so that the workspace builds and lints on the
//! host.

#[cfg(target_arch = "wasm32")]
pub mod engine_client;
#[cfg(target_arch = "wasm32")]
mod page;
pub mod protocol;
#[cfg(target_arch = "wasm32")]
pub mod sources;
pub mod store;
#[cfg(target_arch = "wasm32")]
pub mod worker;

#[cfg(target_arch = "wasm32")]
pub use page::start;
