//! The times a run visits: rectified flow runs from pure noise (t = 1) to
//! the image (t = 0), in even steps for schnell or shifted towards the noisy
//! end for dev, and image-to-image starts part of the way down.

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

/// The times of a run that starts at exactly `t`: `t`, then the times of
/// `timesteps` below it (none when `t` is 0).
pub fn from_time(timesteps: &[f64], t: f64) -> Vec<f64> {
    let below = timesteps.iter().copied().filter(|&s| s < t);
    std::iter::once(t).chain(below).collect()
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

    #[test]
    fn a_run_from_a_time_visits_it_then_the_times_below() {
        let schedule = timesteps(4, None, 256);
        assert_eq!(from_time(&schedule, 0.6), vec![0.6, 0.5, 0.25, 0.0]);
        assert_eq!(from_time(&schedule, 0.5), vec![0.5, 0.25, 0.0]);
        assert_eq!(from_time(&schedule, 1.0), vec![1.0, 0.75, 0.5, 0.25, 0.0]);
        assert_eq!(from_time(&schedule, 0.0), vec![0.0]);
    }
}
