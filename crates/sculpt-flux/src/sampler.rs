//! Rectified-flow sampling (FLUX's Euler sampler).
//!
//! The model predicts a velocity `v` at time `t` for the latent `x_t`, where
//! `x_t = (1 − t)·x₀ + t·ε` runs from noise (t = 1) to the image (t = 0).
//! An Euler step moves to the next time: `x_{t'} = x_t + (t' − t)·v`, and the
//! clean latent the model currently sees is `x₀ = x_t − t·v`. Callers get
//! both at every step, to draw whichever they like.

use sculpt_gpu::{
    Gpu, GpuError, Tensor,
    kernels::elementwise::{self, Binary, Unary},
};

/// dev's resolution-dependent shift of the schedule: mu grows linearly with
/// the number of image tokens, from `base` at 256 tokens to `max` at 4096.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScheduleShift {
    pub base: f64,
    pub max: f64,
}

impl ScheduleShift {
    /// FLUX.1-dev's published values.
    pub const DEV: ScheduleShift = ScheduleShift {
        base: 0.5,
        max: 1.15,
    };

    fn mu(self, image_tokens: usize) -> f64 {
        let (x1, x2) = (256.0, 4096.0);
        let slope = (self.max - self.base) / (x2 - x1);
        self.base + slope * (image_tokens as f64 - x1)
    }
}

/// The `steps + 1` times from 1 down to 0 that `steps` Euler steps visit:
/// evenly spaced for schnell, shifted towards the noisy end for dev.
pub fn timesteps(steps: usize, shift: Option<ScheduleShift>, image_tokens: usize) -> Vec<f64> {
    let steps = steps.max(1);
    let even = (0..=steps).rev().map(|i| i as f64 / steps as f64);
    match shift {
        None => even.collect(),
        Some(shift) => {
            let e_mu = shift.mu(image_tokens).exp();
            even.map(|t| {
                if t == 0.0 {
                    0.0
                } else {
                    e_mu / (e_mu + (1.0 / t - 1.0))
                }
            })
            .collect()
        }
    }
}

/// Where image-to-image starts: the index into `timesteps` of the first
/// step at strength `strength` (1 = from pure noise, 0 = keep the image).
pub fn image_to_image_start(timesteps: &[f64], strength: f64) -> usize {
    let steps = timesteps.len().saturating_sub(1);
    let skipped = ((1.0 - strength.clamp(0.0, 1.0)) * steps as f64).floor() as usize;
    skipped.min(steps)
}

/// The latent at time `t` on the straight path from `clean` to `noise`:
/// `(1 − t)·clean + t·noise`.
pub fn noised(gpu: &Gpu, clean: &Tensor, noise: &Tensor, t: f64) -> Result<Tensor, GpuError> {
    let t = t as f32;
    let clean = elementwise::unary(gpu, Unary::Scale(1.0 - t), clean)?;
    let noise = elementwise::unary(gpu, Unary::Scale(t), noise)?;
    elementwise::binary(gpu, Binary::Add, &clean, &noise)
}

/// What a caller sees after each step.
pub struct Step<'a> {
    /// 0 for the first step.
    pub index: usize,
    /// How many steps this run takes.
    pub count: usize,
    /// The time the model was evaluated at.
    pub t: f64,
    /// The latent after the step (at the next time).
    pub latent: &'a Tensor,
    /// The clean latent predicted at `t`: `x_t − t·v`.
    pub predicted_clean: &'a Tensor,
}

/// Runs Euler steps over consecutive pairs of `timesteps` from `latent`,
/// asking `velocity(x_t, t)` for the model's prediction and calling
/// `on_step` after each step. Returns the final latent; nothing is read
/// back unless `on_step` does so.
pub fn sample<E>(
    gpu: &Gpu,
    mut latent: Tensor,
    timesteps: &[f64],
    mut velocity: impl FnMut(&Tensor, f64) -> Result<Tensor, E>,
    mut on_step: impl FnMut(Step) -> Result<(), E>,
) -> Result<Tensor, E>
where
    E: From<GpuError>,
{
    let count = timesteps.len().saturating_sub(1);
    for (index, pair) in timesteps.windows(2).enumerate() {
        let (t, t_next) = (pair[0], pair[1]);
        let v = velocity(&latent, t)?;
        let (next, predicted_clean) = euler_step(gpu, &latent, &v, t, t_next)?;
        latent = next;
        on_step(Step {
            index,
            count,
            t,
            latent: &latent,
            predicted_clean: &predicted_clean,
        })?;
    }
    Ok(latent)
}

/// One Euler step from `x` at `t` with velocity `v`: the latent at
/// `t_next`, `x + (t_next − t)·v`, and the predicted clean latent, `x − t·v`.
pub fn euler_step(
    gpu: &Gpu,
    x: &Tensor,
    v: &Tensor,
    t: f64,
    t_next: f64,
) -> Result<(Tensor, Tensor), GpuError> {
    let predicted_clean = along(gpu, x, v, -t)?;
    Ok((along(gpu, x, v, t_next - t)?, predicted_clean))
}

/// `x + amount·v`.
fn along(gpu: &Gpu, x: &Tensor, v: &Tensor, amount: f64) -> Result<Tensor, GpuError> {
    let scaled = elementwise::unary(gpu, Unary::Scale(amount as f32), v)?;
    elementwise::binary(gpu, Binary::Add, x, &scaled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schnell_schedule_is_evenly_spaced() {
        assert_eq!(timesteps(4, None, 1024), vec![1.0, 0.75, 0.5, 0.25, 0.0]);
        assert_eq!(timesteps(1, None, 16), vec![1.0, 0.0]);
    }

    #[test]
    fn dev_shift_by_hand() {
        // At 256 tokens mu = 0.5; t = 0.5 maps to e^0.5 / (e^0.5 + 1).
        let shifted = timesteps(2, Some(ScheduleShift::DEV), 256);
        let e = 0.5f64.exp();
        assert_eq!(shifted[0], 1.0);
        assert!((shifted[1] - e / (e + 1.0)).abs() < 1e-15);
        assert_eq!(shifted[2], 0.0);
        // At 4096 tokens mu = 1.15: more time is spent at high noise.
        let large = timesteps(2, Some(ScheduleShift::DEV), 4096);
        assert!(large[1] > shifted[1]);
    }

    #[test]
    fn image_to_image_skips_the_noisiest_steps() {
        let schedule = timesteps(10, None, 256);
        assert_eq!(image_to_image_start(&schedule, 1.0), 0);
        assert_eq!(image_to_image_start(&schedule, 0.6), 4);
        assert_eq!(image_to_image_start(&schedule, 0.0), 10);
        assert_eq!(image_to_image_start(&schedule, 7.0), 0);
    }
}
