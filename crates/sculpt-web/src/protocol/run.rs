//! Step-level runs: what the visualizer and the widget drive, a step at a
//! time, on either backend. A run is started once (from pure noise, or from
//! an image noised to a chosen t), then stepped, drawn from any step of its
//! history, noised to any t without the model, or restarted at any t, until
//! another run, a generation or `end_run` replaces it.
//!
//! A run draws on the engine's canvas, or, when its `frames` names latents,
//! sends them back as pixels instead ([`RunFrame`]s in the reply's `frames`):
//! the visualizer keeps every step's pictures and scrubs through them with
//! no work for the engine.
//!
//! On the wire (plain objects, like every message):
//! - `{ type: "start_run", model, prompt, width, height, steps, seed, history,
//!   show, image?: { width, height, rgba: Uint8Array }, t?, frames?,
//!   cfg_scale? }` →
//!   [`super::FromEngine::RunStarted`] (the start latent is on the canvas);
//! - `{ type: "step_run" }` → [`super::FromEngine::Step`] (drawn as `show`
//!   says), or `failed` once every step has run;
//! - `{ type: "draw_run", step, show }` → [`super::FromEngine::RunDrawn`]:
//!   step `step`'s latent from the history (`null`: the run's latest);
//! - `{ type: "noise_run", t }` → [`super::FromEngine::RunDrawn`]: the
//!   clean image (the start image, or the finished result) noised to `t`
//!   with the run's seed, `(1 − t)·x₀ + t·ε`; no model runs;
//! - `{ type: "restart_run", t }` → [`super::FromEngine::RunStarted`]: the
//!   same run again from the clean image noised to `t`;
//! - `{ type: "end_run" }` → [`super::FromEngine::RunEnded`] (its memory
//!   is freed).

use serde::{Deserialize, Serialize};

use super::{GenerateSettings, ShowLatent};

/// The most steps a run keeps for `draw_run`: the generation driver's
/// history bound.
pub const RUN_HISTORY_LIMIT: usize = sculpt_flux::generation::HISTORY_LIMIT;

/// How to start a run: what a generation takes (the model, prompt, size,
/// steps, seed and which latent each step shows), and more.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSettings {
    /// The model's schedule is made for `steps` steps from t = 1; a run
    /// from an image at t visits the times below t.
    #[serde(flatten)]
    pub generate: GenerateSettings,
    /// How many steps to keep for `draw_run` (at most
    /// [`RUN_HISTORY_LIMIT`]).
    pub history: usize,
    /// Start from this image (of the run's size) instead of pure noise.
    #[serde(default)]
    pub image: Option<RunImage>,
    /// With `image`: the time it is noised to before the first step
    /// (1 is pure noise).
    #[serde(default)]
    pub t: Option<f64>,
    /// The latents every reply that draws sends back as pixels instead of
    /// drawing on the engine's canvas: with a step, each of these; before
    /// the first step and for the forward process, the noisy latent x_t
    /// alone (nothing is predicted yet). Empty: drawn on the canvas.
    #[serde(default)]
    pub frames: Vec<ShowLatent>,
    /// The scale of true classifier-free guidance (how strongly the
    /// prompt steers each step); `None`: the model's own.
    #[serde(default)]
    pub cfg_scale: Option<f32>,
}

/// A latent of a run decoded to pixels, for a page that draws it itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunFrame {
    pub show: ShowLatent,
    pub width: usize,
    pub height: usize,
    /// RGBA8, row by row.
    #[serde(with = "serde_bytes")]
    pub rgba: Vec<u8>,
}

/// An RGBA8 image, row by row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunImage {
    pub width: usize,
    pub height: usize,
    #[serde(with = "serde_bytes")]
    pub rgba: Vec<u8>,
}
