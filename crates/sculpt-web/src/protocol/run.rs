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
//!   latents?, cfg_scale? }` →
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

use sculpt_flux::pipeline::GenerateRequest;
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
    /// from an image at t (`image` and `t` there) visits the times below t.
    #[serde(flatten)]
    pub generate: GenerateSettings,
    /// How many steps to keep for `draw_run` (at most
    /// [`RUN_HISTORY_LIMIT`]).
    pub history: usize,
    /// The latents every reply that draws sends back as pixels instead of
    /// drawing on the engine's canvas: with a step, each of these; before
    /// the first step and for the forward process, the noisy latent x_t
    /// alone (nothing is predicted yet). Empty: drawn on the canvas.
    #[serde(default)]
    pub frames: Vec<ShowLatent>,
    /// With `frames`: each frame also carries its latent's values
    /// ([`RunLatent`]), for a page that looks inside the run.
    #[serde(default)]
    pub latents: bool,
    /// The scale of true classifier-free guidance (how strongly the
    /// prompt steers each step); `None`: the model's own.
    #[serde(default)]
    pub cfg_scale: Option<f32>,
}

impl RunSettings {
    /// The request a run's settings make: from pure noise, or from the image
    /// noised to `t`.
    pub fn request(&self) -> Result<GenerateRequest, String> {
        if self.history > RUN_HISTORY_LIMIT {
            return Err(format!(
                "a run keeps at most {RUN_HISTORY_LIMIT} steps for scrubbing, not {}",
                self.history
            ));
        }
        let mut request = self.generate.request()?;
        request.cfg_scale = self.cfg_scale;
        Ok(request)
    }
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
    /// The latent the frame decodes, when the run sends latents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latent: Option<RunLatent>,
}

/// A run's latent as the autoencoder's decoder takes it: `channels` planes
/// of `height` × `width` values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunLatent {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    /// The values, plane by plane and row by row, as little-endian f32
    /// bytes (a `Uint8Array` a page reads with a `Float32Array` over its
    /// buffer).
    #[serde(with = "serde_bytes")]
    pub values: Vec<u8>,
}

impl RunLatent {
    pub fn new(channels: usize, height: usize, width: usize, values: &[f32]) -> Self {
        Self {
            channels,
            height,
            width,
            values: values
                .iter()
                .flat_map(|value| value.to_le_bytes())
                .collect(),
        }
    }

    /// The values as numbers; `None` when the bytes do not hold `channels`
    /// × `height` × `width` of them.
    pub fn floats(&self) -> Option<Vec<f32>> {
        if self.values.len() != self.channels * self.height * self.width * 4 {
            return None;
        }
        Some(
            self.values
                .chunks_exact(4)
                .map(|bytes| f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
                .collect(),
        )
    }
}

/// An RGBA8 image, row by row: where a run or a generation starts from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunImage {
    pub width: usize,
    pub height: usize,
    #[serde(with = "serde_bytes")]
    pub rgba: Vec<u8>,
}
