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
//! **The surfaces** use the engine and nothing else of each other: the page
//! (`page`: its shell, the Generate, Visualize and Models surfaces, "About
//! this device"), and the blog widget (`www/widget/sculpt-widget.js`, the
//! `<sculpt-image>` element: JavaScript that speaks the same [`protocol`]
//! to the same worker, so that a host page loads 22 KB until a widget
//! starts; see `docs/widget.md`). Dependencies point one way: the shell
//! starts the engine client and owns the panels; a panel sends requests
//! through the page's `Session` and is shown the replies by the shell,
//! never calling back into it. One surface hands an image to another
//! ("See it in the visualizer") with an event on the window
//! (`page/handoff.rs`), not a call.
//!
//! **The visualizer** (`page/visualizer/`, at `#/visualize?…`): the Noise
//! level slider shows the forward process (`noise_run`), Restore runs the
//! reverse process a step at a time (`start_run`/`restart_run`, then
//! `step_run`), and each step comes back as pixels (x_t, x̂₀ and the
//! velocity) and latents, kept in the page: the Step slider, Play, the
//! schedule plot and "Look inside" (latent channels, the path's PCA from
//! [`trajectory`]) scrub them with no work for the engine. Compare runs a
//! second restore with one setting changed from the same noise.
//!
//! **Where a new surface goes.** A view of the generator page (the
//! visualizer) is a module under `page/`, one `<section data-surface>` with
//! its link in index.html's `<nav id="surfaces">`, and its replies routed by
//! the shell. A surface that lives in other people's pages, as the widget,
//! stays a small script beside it in `www/` speaking the protocol.
//!
//! # The engine, in more detail
//!
//! - **The page never computes.** Its wasm module (the `sculpt-web` binary)
//!   wires the DOM and starts the engine, a second wasm module (the
//!   `sculpt-worker` binary) in a dedicated Web Worker, so GPU work, weight
//!   loading and prompt encoding never block typing. Between steps the
//!   engine returns to the worker's event loop, which is when it sees a
//!   `cancel` or a change of what to show.
//! - **The messages** ([`protocol`]): the worker says `loaded`; the page
//!   transfers its canvas with `{ type: "attach", canvas, base? }` (`base`:
//!   where the engine's own files are, for a worker started from a `blob:`
//!   on another site, as the widget's) and gets
//!   `{ type: "ready", device, backend }` (`backend` is `"webgpu"` or
//!   `"cpu"`; `device` is label/value rows for "About this device"). Then
//!   `{ type: "generate", model, prompt, width, height, steps, seed, show }`
//!   is answered by `progress` and one `step` per step, then `generated`
//!   (the PNG bytes) or `cancelled`; `cancel` and `show` act at once.
//!   A generation may start from an image (`image` and its noise level
//!   `t`: image-to-image, the generator's Strength).
//!   `check_files` (File objects and/or web addresses) answers
//!   `files_checked` (each file's role, the memory plan on this device,
//!   whether it can run here; nothing stored yet); `import` answers
//!   `importing` progress, then `imported`; `list_models`, `verify_model`
//!   and `delete_model` answer `models`. Step-level runs, for the
//!   visualizer and the widget (`protocol/run.rs`): `start_run` (from pure
//!   noise, or from an image noised to t), `step_run`, `draw_run` (any kept
//!   step's x_t, x̂₀ or velocity), `noise_run` (the forward process, no
//!   model), `restart_run` and `end_run`, on either backend through one
//!   generic `worker/run.rs`. A run started with `frames` sends what it
//!   draws back as pixels (and with `latents`, the latents' values) instead
//!   of drawing on the canvas: the visualizer keeps and scrubs them.
//! - **Frames without readback.** The engine draws each frame into the
//!   transferred `OffscreenCanvas`'s texture with
//!   `sculpt_gpu::present::draw_image`, so a frame goes from the GPU to the
//!   screen with no copy through the CPU.
//! - **The CPU fallback.** Where the browser offers no WebGPU adapter or
//!   device, the same engine (`worker/engine.rs`) runs the built-in model on
//!   `sculpt_flux`'s CPU backend (candle in wasm with SIMD, one thread) and
//!   puts each frame on the canvas with its 2d context. The messages are the
//!   same; `ready` says `backend: "cpu"` and the page shows a notice above
//!   the generator. Imported models need WebGPU and are refused by name.
//! - **Importing FLUX.1 weights** (`worker/library.rs`, the Models surface):
//!   files (chooser or drag and drop) or web addresses (HTTP range requests;
//!   the server must allow CORS) are sorted into roles by their headers
//!   (`sculpt_flux::pipeline::sort_loose_files`, shared with the CLI), the
//!   memory plan is shown, and only a model the device can run is stored;
//!   the import streams into the [`store`] a chunk at a time with a
//!   progress bar, then every chunk is read back and checked. The page asks
//!   for persistent storage on import, shows what the models use against
//!   the site's quota, and lists each model with Check and Delete.
//!   Generating with an imported model streams its weights from IndexedDB
//!   to the GPU.
//! - **Offline.** `www/sw.js`, a service worker, keeps the app shell and
//!   the built-in model (`models/`, copied into the site by trunk) after
//!   one visit; network first, so a new build is never mixed with an old
//!   one.
//! - **Tests.** The store's logic natively on an in-memory backend with
//!   simulated quota and damage (`tests/store.rs`), the IndexedDB backend in
//!   Chromium (`tests/indexed_db.rs`), and the page end to end in
//!   `tests/e2e/` at the repository root (generating, the first screen, the
//!   CPU fallback, importing: a real quota error and the resumed import, a
//!   damaged chunk found by Check, import by address, offline reload).
//!
//! **Must not:** compute. Kernels live in `sculpt-gpu`, models and the
//! generation pipelines (GPU and CPU) in `sculpt-flux`; this crate calls them
//! from its worker and shows what they produce. It never leaves the page
//! blank: every failure ends up as a message in `#error`.
//!
//! The [`store`] (model files in IndexedDB, chunked and hashed) builds
//! everywhere so that its logic is tested natively, as do the protocol and
//! the visualizer's arithmetic ([`trajectory`]); the rest of the app exists
//! only for `wasm32-unknown-unknown`, so that the workspace builds and lints
//! on the host.

#[cfg(target_arch = "wasm32")]
pub mod engine_client;
#[cfg(target_arch = "wasm32")]
mod page;
pub mod protocol;
#[cfg(target_arch = "wasm32")]
pub mod sources;
pub mod store;
pub mod trajectory;
#[cfg(target_arch = "wasm32")]
pub mod worker;

#[cfg(target_arch = "wasm32")]
pub use page::start;
