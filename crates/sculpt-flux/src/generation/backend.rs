//! What the generation driver asks of a backend: the model's stages on the
//! backend's own tensors. Two implement it: Sculpt's WGSL kernels through
//! wgpu ([`crate::gpu::GpuBackend`]) and candle on the CPU
//! (`crate::cpu::CpuBackend`). Everything else about sampling (schedule,
//! Euler steps, guidance, the forward process, history) is written once, in
//! [`super::Generation`].

use super::{Frame, LatentShape};
use crate::pipeline::PipelineError;

/// A denoiser and decoder for one generation: the transformer and
/// autoencoder already loaded, the positions of this image size prepared.
///
/// Latents are the transformer's image tokens (2×2 patches of the
/// autoencoder's latent); a backend never reads them back unless a frame is
/// asked for.
// Futures in this trait are never sent across threads: the browser's engine
// runs in one worker, natively everything is driven by `pollster`.
#[allow(async_fn_in_trait)]
pub trait Backend {
    /// Image tokens, where the backend computes (a GPU buffer, a candle
    /// tensor). Cloning shares the storage: a run keeps its history so.
    type Latent: Clone;
    /// A decoded image, [3, height, width] in about [−1, 1], where the
    /// backend keeps it (on the GPU a page draws it without readback).
    type Image;
    /// One prompt's encoding (the text encoders' outputs).
    type Text;

    /// The transformer's velocity for `latent` at time `t` under `text`,
    /// with dev's embedded `guidance` when the model takes it.
    fn velocity(
        &self,
        latent: &Self::Latent,
        t: f64,
        text: &Self::Text,
        guidance: Option<f32>,
    ) -> Result<Self::Latent, PipelineError>;

    /// `a_weight·a + b_weight·b`, element by element (each weight 1 is
    /// exact: it leaves its operand unscaled).
    fn mix(
        &self,
        a: &Self::Latent,
        a_weight: f64,
        b: &Self::Latent,
        b_weight: f64,
    ) -> Result<Self::Latent, PipelineError>;

    /// Image tokens → the autoencoder's latent → an image.
    fn decode(
        &self,
        latent: &Self::Latent,
        shape: &LatentShape,
    ) -> Result<Self::Image, PipelineError>;

    /// Image tokens → an image by the model's preview decoder
    /// ([`crate::models::preview`]): the same size as [`Self::decode`]'s for
    /// a fraction of its cost. `None` when the model has none.
    fn preview(
        &self,
        latent: &Self::Latent,
        shape: &LatentShape,
    ) -> Result<Option<Self::Image>, PipelineError>;

    /// The image as RGBA8 bytes (read back from the GPU).
    async fn rgba(&self, image: &Self::Image) -> Result<Frame, PipelineError>;

    /// The autoencoder's latent the tokens pack, `[channels, height,
    /// width]` in `shape`, read back (for a page that looks inside a run).
    async fn latent_values(
        &self,
        latent: &Self::Latent,
        shape: &LatentShape,
    ) -> Result<Vec<f32>, PipelineError>;

    /// Waits until all work recorded so far has run (for timings; the
    /// driver itself never waits). Native only: a page must never block.
    #[cfg(not(target_arch = "wasm32"))]
    fn finish(&self) -> Result<(), PipelineError>;
}
