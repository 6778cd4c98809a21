//! The Euler sampler on the GPU: schedules against candle-transformers'
//! FLUX sampling, and a whole run with a velocity that is exactly right,
//! which must land on the clean latent and predict it at every step.
//! Native only (candle-transformers and a native device are dev-dependencies
//! for native targets).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::{gpu, read};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sculpt_flux::sampler::{ScheduleShift, image_to_image_start, noised, sample, timesteps};
use sculpt_gpu::{
    Gpu, GpuError, Tensor,
    kernels::elementwise::{self, Binary, Unary},
};

fn random(seed: u64, len: usize) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..len).map(|_| rng.random_range(-2.0f32..2.0)).collect()
}

fn max_difference(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn schedules_match_candle_transformers() {
    use candle_transformers::models::flux::sampling::get_schedule;
    for steps in [1, 4, 20, 28, 50] {
        assert_eq!(timesteps(steps, None, 1024), get_schedule(steps, None));
        for tokens in [256, 1024, 4096, 6000] {
            let ours = timesteps(steps, Some(ScheduleShift::DEV), tokens);
            let theirs = get_schedule(steps, Some((tokens, 0.5, 1.15)));
            assert_eq!(ours.len(), theirs.len());
            for (a, b) in ours.iter().zip(&theirs) {
                assert!(
                    (a - b).abs() < 1e-12,
                    "{steps} steps, {tokens} tokens: {a} vs {b}"
                );
            }
        }
    }
}

/// The velocity of the straight path through `clean`: (x_t − x₀) / t.
fn exact_velocity<'a>(
    gpu: &'a Gpu,
    clean: &'a Tensor,
) -> impl FnMut(&Tensor, f64) -> Result<Tensor, GpuError> + 'a {
    move |x, t| {
        let offset = elementwise::binary(gpu, Binary::Sub, x, clean)?;
        elementwise::unary(gpu, Unary::Scale((1.0 / t) as f32), &offset)
    }
}

#[test]
fn an_exact_velocity_lands_on_the_clean_latent() {
    let gpu = gpu();
    let shape = [64usize, 16];
    let clean_values = random(1, 64 * 16);
    let clean = Tensor::from_slice(&gpu, &clean_values, &shape).unwrap();
    let noise = Tensor::from_slice(&gpu, &random(2, 64 * 16), &shape).unwrap();
    for (steps, shift) in [(4, None), (20, Some(ScheduleShift::DEV))] {
        let schedule = timesteps(steps, shift, 64);
        let mut seen = Vec::new();
        let last = sample(
            &gpu,
            noise.clone(),
            &schedule,
            exact_velocity(&gpu, &clean),
            |step| {
                let predicted = read(&gpu, step.predicted_clean);
                let error = max_difference(&predicted, &clean_values);
                assert!(
                    error < 1e-4,
                    "step {} at t = {}: x0 off by {error}",
                    step.index,
                    step.t
                );
                seen.push((step.index, step.count, step.t));
                Ok::<(), GpuError>(())
            },
        )
        .unwrap();
        let expected: Vec<_> = (0..steps).map(|i| (i, steps, schedule[i])).collect();
        assert_eq!(seen, expected);
        let error = max_difference(&read(&gpu, &last), &clean_values);
        assert!(error < 1e-4, "{steps} steps: final latent off by {error}");
    }
}

#[test]
fn image_to_image_starts_on_the_noised_image() {
    let gpu = gpu();
    let (clean_values, noise_values) = (random(3, 300), random(4, 300));
    let clean = Tensor::from_slice(&gpu, &clean_values, &[300]).unwrap();
    let noise = Tensor::from_slice(&gpu, &noise_values, &[300]).unwrap();
    let schedule = timesteps(10, None, 256);
    let start = image_to_image_start(&schedule, 0.6);
    let t = schedule[start];
    assert!((t - 0.6).abs() < 1e-12);
    let got = read(&gpu, &noised(&gpu, &clean, &noise, t).unwrap());
    let want: Vec<f32> = clean_values
        .iter()
        .zip(&noise_values)
        .map(|(c, n)| (1.0 - t as f32) * c + t as f32 * n)
        .collect();
    assert!(max_difference(&got, &want) < 1e-6);
    // And the remaining steps still end on the clean latent.
    let start_latent = noised(&gpu, &clean, &noise, t).unwrap();
    let last = sample(
        &gpu,
        start_latent,
        &schedule[start..],
        exact_velocity(&gpu, &clean),
        |_| Ok::<(), GpuError>(()),
    )
    .unwrap();
    assert!(max_difference(&read(&gpu, &last), &clean_values) < 1e-4);
}

#[test]
fn repeated_runs_allocate_nothing_after_the_first() {
    let gpu = gpu();
    let clean = Tensor::from_slice(&gpu, &random(5, 512), &[32, 16]).unwrap();
    let noise = Tensor::from_slice(&gpu, &random(6, 512), &[32, 16]).unwrap();
    let schedule = timesteps(4, None, 32);
    let run = || {
        sample(
            &gpu,
            noise.clone(),
            &schedule,
            exact_velocity(&gpu, &clean),
            |_| Ok::<(), GpuError>(()),
        )
        .unwrap()
    };
    let first = read(&gpu, &run());
    let before = gpu.stats();
    let again = run();
    let during = gpu.stats() - before;
    assert_eq!(during.buffers_created, 0, "{during:?}");
    assert_eq!(during.pipelines_created, 0, "{during:?}");
    assert_eq!(during.submits, 0, "{during:?}");
    assert_eq!(read(&gpu, &again), first);
}
