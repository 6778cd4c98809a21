//! One generation on the CPU, a step at a time, as the GPU pipeline's
//! [`Generation`](crate::pipeline::Generation): each step is one Euler step
//! (two transformer passes under true CFG), and any step can be decoded to
//! a frame of the noisy or the predicted clean latent.

use candle_core::{Device, Module, Tensor};
use candle_transformers::models::flux::{self, WithForward};

use super::pipeline::Resident;
use crate::pipeline::{Frame, PipelineError, Show, StepInfo};
use crate::text::Truncation;

/// A prompt's T5 states [1, tokens, d] and CLIP vector [1, hidden].
pub(super) struct Text {
    pub states: Tensor,
    pub pooled: Tensor,
}

/// One generation in progress on the CPU.
pub struct CpuGeneration<'p> {
    resident: &'p Resident,
    prompt: Text,
    unconditional: Option<Text>,
    img_ids: Tensor,
    txt_ids: Tensor,
    guidance: Option<Tensor>,
    cfg_scale: Option<f32>,
    schedule: Vec<f64>,
    /// The index in `schedule` of the next step's time.
    next: usize,
    first: usize,
    /// The current latent as image tokens [1, tokens, 64].
    latent: Tensor,
    predicted_clean: Option<Tensor>,
    truncations: Vec<Truncation>,
    width: usize,
    height: usize,
}

impl<'p> CpuGeneration<'p> {
    #[allow(clippy::too_many_arguments)] // one call site, in CpuPipeline::start
    pub(super) fn new(
        resident: &'p Resident,
        prompt: Text,
        unconditional: Option<Text>,
        state: flux::sampling::State,
        guidance: Option<f32>,
        cfg_scale: Option<f32>,
        schedule: Vec<f64>,
        first: usize,
        latent: Tensor,
        truncations: Vec<Truncation>,
        (width, height): (usize, usize),
    ) -> candle_core::Result<Self> {
        let guidance = guidance
            .map(|g| Tensor::full(g, 1, &Device::Cpu))
            .transpose()?;
        Ok(Self {
            resident,
            prompt,
            unconditional,
            img_ids: state.img_ids,
            txt_ids: state.txt_ids,
            guidance,
            cfg_scale,
            schedule,
            next: first,
            first,
            latent,
            predicted_clean: None,
            truncations,
            width,
            height,
        })
    }

    /// Where the prompt was cut to what an encoder reads.
    pub fn truncations(&self) -> &[Truncation] {
        &self.truncations
    }

    /// Steps this generation runs in all.
    pub fn step_count(&self) -> usize {
        self.schedule.len() - 1 - self.first
    }

    /// Runs the next step, or returns `None` when all have run.
    pub fn step(&mut self) -> Result<Option<StepInfo>, PipelineError> {
        if self.next + 1 >= self.schedule.len() {
            return Ok(None);
        }
        let (t, t_next) = (self.schedule[self.next], self.schedule[self.next + 1]);
        let velocity = self.velocity(t)?;
        self.predicted_clean = Some((&self.latent - (&velocity * t)?)?);
        self.latent = (&self.latent + (velocity * (t_next - t))?)?;
        let info = StepInfo {
            index: self.next - self.first,
            count: self.step_count(),
            t,
        };
        self.next += 1;
        Ok(Some(info))
    }

    /// The transformer's velocity at `t`, guided by CFG when asked.
    fn velocity(&self, t: f64) -> Result<Tensor, PipelineError> {
        let timestep = Tensor::full(t as f32, 1, &Device::Cpu)?;
        let predict = |text: &Text| {
            self.resident.transformer.forward(
                &self.latent,
                &self.img_ids,
                &text.states,
                &self.txt_ids,
                &timestep,
                &text.pooled,
                self.guidance.as_ref(),
            )
        };
        let conditional = predict(&self.prompt)?;
        Ok(match (self.cfg_scale, &self.unconditional) {
            (Some(scale), Some(text)) => {
                let unconditional = predict(text)?;
                let difference = (conditional - &unconditional)?;
                (unconditional + (difference * f64::from(scale))?)?
            }
            _ => conditional,
        })
    }

    /// The latent `show` names, as image tokens [1, tokens, 64] (before any
    /// step, the start latent for both).
    pub fn latent(&self, show: Show) -> &Tensor {
        match (show, &self.predicted_clean) {
            (Show::PredictedClean, Some(clean)) => clean,
            _ => &self.latent,
        }
    }

    /// Decodes the latent `show` names to an image [3, height, width] in
    /// about [-1, 1].
    pub fn image(&self, show: Show) -> Result<Tensor, PipelineError> {
        let a = &self.resident.autoencoder;
        // candle's `unpack` takes the size of FLUX's image (latent 8× smaller,
        // 2×2 patches): for another autoencoder, the image that latent would be.
        let to_flux_side = |side: usize| side * 8 / (1 << (a.ch_mult.len() - 1));
        let latent = flux::sampling::unpack(
            self.latent(show),
            to_flux_side(self.height),
            to_flux_side(self.width),
        )?;
        let latent = ((latent / a.scale_factor)? + a.shift_factor)?;
        Ok(self.resident.decoder.forward(&latent)?.squeeze(0)?)
    }

    /// Decodes the latent `show` names to an RGBA8 frame, with the GPU's
    /// bytes: `floor((clamp(v, −1, 1) + 1)·127.5 + 0.5)`.
    pub fn frame(&self, show: Show) -> Result<Frame, PipelineError> {
        let planes: Vec<f32> = self.image(show)?.flatten_all()?.to_vec1()?;
        let pixels = self.width * self.height;
        let byte = |v: f32| ((v.clamp(-1.0, 1.0) + 1.0) * 127.5 + 0.5).floor() as u8;
        let rgba = (0..pixels)
            .flat_map(|i| {
                [
                    byte(planes[i]),
                    byte(planes[pixels + i]),
                    byte(planes[2 * pixels + i]),
                    255,
                ]
            })
            .collect();
        Ok(Frame {
            width: self.width,
            height: self.height,
            rgba,
        })
    }

    /// Runs the remaining steps and decodes the final latent.
    pub fn finish(mut self) -> Result<Frame, PipelineError> {
        while self.step()?.is_some() {}
        self.frame(Show::Current)
    }
}
