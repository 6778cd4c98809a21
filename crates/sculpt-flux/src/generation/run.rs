//! One generation, a step at a time, on any [`Backend`].
//!
//! Rectified flow: the model predicts a velocity `v` at time `t` for the
//! latent `x_t`, where `x_t = (1 − t)·x₀ + t·ε` runs from noise (t = 1) to
//! the image (t = 0). An Euler step moves to the next time,
//! `x_{t'} = x_t + (t' − t)·v`, and the clean latent the model sees is
//! `x̂₀ = x_t − t·v`. With true CFG the velocity is `v_u + s·(v_c − v_u)`.

use super::{Backend, Decode, Frame, History, LatentShape, RunPlan, StepRecord};
use crate::pipeline::PipelineError;
use crate::text::Truncation;

/// The prompt's encoding and, for true CFG, the empty prompt's.
pub struct Conditioning<T> {
    pub prompt: T,
    pub unconditional: Option<T>,
    /// Where the prompt was longer than an encoder reads.
    pub truncations: Vec<Truncation>,
}

/// What a step reports.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepInfo {
    /// 0 for the first step run.
    pub index: usize,
    /// How many steps this run takes (fewer than requested from a start
    /// image).
    pub count: usize,
    /// The time the model was evaluated at (1 is pure noise).
    pub t: f64,
}

/// Which latent of a step a frame shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Show {
    /// x_t: the latent after the step (before any step, the start latent).
    Current,
    /// x̂₀: the clean latent the model predicted at the step.
    PredictedClean,
    /// v: the model's velocity at the step (noise minus image, decoded as
    /// if it were a latent).
    Velocity,
}

/// One generation in progress.
pub struct Generation<B: Backend> {
    backend: B,
    text: Conditioning<B::Text>,
    plan: RunPlan,
    /// The index in `plan.schedule` of the current latent's time.
    at: usize,
    latent: B::Latent,
    /// The last step's velocity and predicted clean latent.
    last: Option<(B::Latent, B::Latent)>,
    /// The seed's ε, which the forward process mixes in.
    noise: B::Latent,
    /// The start image's latent x₀, when the run started from one.
    clean: Option<B::Latent>,
    history: History<B::Latent>,
}

impl<B: Backend> Generation<B> {
    /// A run of `plan` from `noise` (pure noise), or from `clean` (a start
    /// image's latent) noised to the plan's first time.
    pub fn new(
        backend: B,
        plan: RunPlan,
        text: Conditioning<B::Text>,
        noise: B::Latent,
        clean: Option<B::Latent>,
    ) -> Result<Self, PipelineError> {
        let latent = match &clean {
            Some(clean) => noised(&backend, clean, &noise, plan.schedule[0])?,
            None => noise.clone(),
        };
        Ok(Self {
            backend,
            text,
            plan,
            at: 0,
            latent,
            last: None,
            noise,
            clean,
            history: History::new(0),
        })
    }

    /// Keeps the latest `steps` steps (at most
    /// [`HISTORY_LIMIT`](super::HISTORY_LIMIT)) for scrubbing.
    pub fn with_history(mut self, steps: usize) -> Self {
        self.history = History::new(steps);
        self
    }

    pub fn backend(&self) -> &B {
        &self.backend
    }

    pub fn shape(&self) -> &LatentShape {
        &self.plan.shape
    }

    /// Every time this run visits, from its start down to 0.
    pub fn schedule(&self) -> &[f64] {
        &self.plan.schedule
    }

    /// Where the prompt was cut to what an encoder reads (the user should be
    /// told: the end of the prompt has no effect).
    pub fn truncations(&self) -> &[Truncation] {
        &self.text.truncations
    }

    /// Steps this run takes in all.
    pub fn step_count(&self) -> usize {
        self.plan.schedule.len() - 1
    }

    /// Steps run so far.
    pub fn steps_done(&self) -> usize {
        self.at
    }

    /// The time of the current latent.
    pub fn t(&self) -> f64 {
        self.plan.schedule[self.at]
    }

    /// Runs the next step, or returns `None` when all have run. Records
    /// backend work only; nothing is read back.
    pub fn step(&mut self) -> Result<Option<StepInfo>, PipelineError> {
        let Some(&t_next) = self.plan.schedule.get(self.at + 1) else {
            return Ok(None);
        };
        let t = self.t();
        let velocity = self.velocity(t)?;
        let predicted_clean = self.backend.mix(&self.latent, 1.0, &velocity, -t)?;
        let latent = self.backend.mix(&self.latent, 1.0, &velocity, t_next - t)?;
        let info = StepInfo {
            index: self.at,
            count: self.step_count(),
            t,
        };
        self.history.push(StepRecord {
            index: self.at,
            t,
            t_next,
            latent: latent.clone(),
            velocity: velocity.clone(),
            predicted_clean: predicted_clean.clone(),
        });
        self.latent = latent;
        self.last = Some((velocity, predicted_clean));
        self.at += 1;
        Ok(Some(info))
    }

    /// The transformer's velocity at `t`, guided by true CFG when asked.
    fn velocity(&self, t: f64) -> Result<B::Latent, PipelineError> {
        let backend = &self.backend;
        let guidance = self.plan.guidance;
        let conditional = backend.velocity(&self.latent, t, &self.text.prompt, guidance)?;
        match (self.plan.cfg_scale, &self.text.unconditional) {
            (Some(scale), Some(empty)) => {
                let unconditional = backend.velocity(&self.latent, t, empty, guidance)?;
                let difference = backend.mix(&conditional, 1.0, &unconditional, -1.0)?;
                backend.mix(&unconditional, 1.0, &difference, f64::from(scale))
            }
            _ => Ok(conditional),
        }
    }

    /// The latent `show` names at the last step (before any step, the start
    /// latent for each).
    pub fn latent(&self, show: Show) -> &B::Latent {
        match (show, &self.last) {
            (Show::PredictedClean, Some((_, clean))) => clean,
            (Show::Velocity, Some((velocity, _))) => velocity,
            _ => &self.latent,
        }
    }

    /// The noise ε̂ a step's prediction implies: since the velocity is
    /// v = ε − x₀, it is ε̂ = x̂₀ + v (that is, x_t + (1 − t)·v), from the
    /// step's predicted clean latent and velocity (this run's, or a kept
    /// step's). At the first step from pure noise it is that noise again.
    pub fn implied_noise(
        &self,
        predicted_clean: &B::Latent,
        velocity: &B::Latent,
    ) -> Result<B::Latent, PipelineError> {
        self.backend.mix(predicted_clean, 1.0, velocity, 1.0)
    }

    /// The steps kept for scrubbing (none unless asked with
    /// [`Self::with_history`]).
    pub fn history(&self) -> &History<B::Latent> {
        &self.history
    }

    /// Decodes `latent` (this run's, or one of its history's) to an image,
    /// left where the backend computes.
    pub fn decode(&self, latent: &B::Latent) -> Result<B::Image, PipelineError> {
        self.backend.decode(latent, &self.plan.shape)
    }

    /// `latent` as an image by the decoder `decode` names (the full one
    /// where the model has no preview decoder), left where the backend
    /// computes.
    pub fn render(&self, latent: &B::Latent, decode: Decode) -> Result<B::Image, PipelineError> {
        if decode == Decode::Preview
            && let Some(image) = self.backend.preview(latent, &self.plan.shape)?
        {
            return Ok(image);
        }
        self.decode(latent)
    }

    /// Whether the last step has run: its frame is the image.
    pub fn finished(&self) -> bool {
        self.at + 1 == self.plan.schedule.len()
    }

    /// Decodes the latent `show` names at the last step.
    pub fn image(&self, show: Show) -> Result<B::Image, PipelineError> {
        self.decode(self.latent(show))
    }

    /// Decodes `latent` to an RGBA8 frame (reads it back).
    pub async fn frame_of(&self, latent: &B::Latent) -> Result<Frame, PipelineError> {
        self.frame_by(latent, Decode::Full).await
    }

    /// `latent` as an RGBA8 frame by the decoder `decode` names (reads it
    /// back).
    pub async fn frame_by(
        &self,
        latent: &B::Latent,
        decode: Decode,
    ) -> Result<Frame, PipelineError> {
        self.backend.rgba(&self.render(latent, decode)?).await
    }

    /// `latent` as the autoencoder's latent, `[channels, height, width]`
    /// of [`Self::shape`] (reads it back).
    pub async fn latent_values(&self, latent: &B::Latent) -> Result<Vec<f32>, PipelineError> {
        self.backend.latent_values(latent, &self.plan.shape).await
    }

    /// Decodes the latent `show` names at the last step to an RGBA8 frame.
    pub async fn frame(&self, show: Show) -> Result<Frame, PipelineError> {
        self.frame_of(self.latent(show)).await
    }

    /// The forward process: the clean latent noised to `t` with this run's
    /// noise, `(1 − t)·x₀ + t·ε`, without running the model. x₀ is the
    /// start image's latent, or this run's result once every step has run.
    pub fn forward(&self, t: f64) -> Result<B::Latent, PipelineError> {
        if !(0.0..=1.0).contains(&t) {
            return Err(PipelineError::Run(format!(
                "t = {t} is outside [0, 1]: the forward process runs from the image (0) to \
                 pure noise (1)"
            )));
        }
        noised(&self.backend, self.clean()?, &self.noise, t)
    }

    /// Starts this run again from the clean latent noised to `t` (the same
    /// prompt, seed and noise), following the model's schedule below `t`.
    /// The history starts again too.
    pub fn restart_at(&mut self, t: f64) -> Result<(), PipelineError> {
        let latent = self.forward(t)?;
        if self.clean.is_none() {
            // The finished result is the clean image from now on.
            self.clean = Some(self.latent.clone());
        }
        self.plan.schedule = crate::schedule::from_time(&self.plan.full_schedule, t);
        self.latent = latent;
        self.last = None;
        self.at = 0;
        self.history.clear();
        Ok(())
    }

    fn clean(&self) -> Result<&B::Latent, PipelineError> {
        match &self.clean {
            Some(clean) => Ok(clean),
            None if self.finished() => Ok(&self.latent),
            None => Err(PipelineError::Run(
                "this run started from noise and has not finished: there is no clean image \
                 to noise yet"
                    .into(),
            )),
        }
    }

    /// Runs the remaining steps and decodes the final latent.
    pub async fn finish(mut self) -> Result<Frame, PipelineError> {
        while self.step()?.is_some() {}
        self.frame(Show::Current).await
    }
}

/// `(1 − t)·clean + t·noise`.
fn noised<B: Backend>(
    backend: &B,
    clean: &B::Latent,
    noise: &B::Latent,
    t: f64,
) -> Result<B::Latent, PipelineError> {
    backend.mix(clean, 1.0 - t, noise, t)
}
