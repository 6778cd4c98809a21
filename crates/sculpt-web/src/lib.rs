//! # sculpt-web
//!
//! Sculpt's in-browser app, compiled to WebAssembly and built by trunk from the
//! repository's `index.html`.
//!
//! **Owns:** everything that touches the page: DOM wiring and the Models
//! section (`app`, `generator`, `models_panel`); the engine's Web Worker
//! ([`worker`]: the GPU engine, the CPU fallback, imports) and the one
//! message boundary between them ([`protocol`]); the sources an import or a
//! generation reads from (a chosen file, a web address, the IndexedDB
//! [`store`]). Later the visualizer and the blog widget.
//!
//! **Must not:** compute. Kernels live in `sculpt-gpu`, models and the
//! generation pipelines (GPU and CPU) in `sculpt-flux`; this crate calls them
//! from its worker and shows what they produce. It never leaves the page blank: every failure ends up as a
//! message in `#error`.
//!
//! The [`store`] (model files in IndexedDB, chunked and hashed) builds
//! everywhere so that its logic is tested natively; the rest of the app
//! exists only for `wasm32-unknown-unknown`, and natively the crate is just
//! the store, so that the workspace builds and lints on the host.

#[cfg(target_arch = "wasm32")]
mod app;
#[cfg(target_arch = "wasm32")]
pub mod blob_source;
#[cfg(target_arch = "wasm32")]
mod device_panel;
#[cfg(target_arch = "wasm32")]
mod dom;
#[cfg(target_arch = "wasm32")]
mod engine_client;
#[cfg(target_arch = "wasm32")]
mod generator;
#[cfg(target_arch = "wasm32")]
pub mod import_source;
#[cfg(target_arch = "wasm32")]
mod models_panel;
pub mod protocol;
pub mod store;
#[cfg(target_arch = "wasm32")]
pub mod url_source;
#[cfg(target_arch = "wasm32")]
pub mod worker;

#[cfg(target_arch = "wasm32")]
pub use app::start;
