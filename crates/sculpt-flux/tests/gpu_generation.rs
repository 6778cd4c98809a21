//! The generation driver on the GPU's arithmetic, with a model whose
//! velocity is known exactly: the straight path through a chosen clean
//! latent, `v = (x_t − x₀) / t`. Every step must then predict x₀, the run
//! must land on it, and everything the step API exposes (the start latent,
//! the forward process, true CFG, the history) can be worked out by hand.
//! Schedules are checked against candle-transformers' FLUX sampling.
//! Native only (candle-transformers and a native device are dev-dependencies
//! for native targets).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::{gpu, read};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sculpt_flux::generation::{
    Backend, Conditioning, Decode, Frame, Generation, HISTORY_LIMIT, LatentShape, RunPlan, Show,
};
use sculpt_flux::pipeline::PipelineError;
use sculpt_flux::schedule::{ScheduleShift, from_time, image_to_image_start, timesteps};
use sculpt_gpu::{
    Gpu, Tensor,
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

/// `(1 − t)·a + t·b`, worked out on the CPU.
fn lerp(a: &[f32], b: &[f32], t: f64) -> Vec<f32> {
    let t = t as f32;
    a.iter()
        .zip(b)
        .map(|(a, b)| (1.0 - t) * a + t * b)
        .collect()
}

/// A model that knows where every path goes: a "prompt" is the clean
/// latent it leads to, and the velocity is exact for it.
struct StraightPaths<'g> {
    gpu: &'g Gpu,
}

impl Backend for StraightPaths<'_> {
    type Latent = Tensor;
    type Image = Tensor;
    type Text = Tensor;

    fn velocity(
        &self,
        x: &Tensor,
        t: f64,
        clean: &Tensor,
        _guidance: Option<f32>,
    ) -> Result<Tensor, PipelineError> {
        let offset = elementwise::binary(self.gpu, Binary::Sub, x, clean)?;
        Ok(elementwise::unary(
            self.gpu,
            Unary::Scale((1.0 / t) as f32),
            &offset,
        )?)
    }

    fn mix(&self, a: &Tensor, wa: f64, b: &Tensor, wb: f64) -> Result<Tensor, PipelineError> {
        let a = elementwise::unary(self.gpu, Unary::Scale(wa as f32), a)?;
        let b = elementwise::unary(self.gpu, Unary::Scale(wb as f32), b)?;
        Ok(elementwise::binary(self.gpu, Binary::Add, &a, &b)?)
    }

    /// The tokens themselves: this model has no autoencoder.
    fn decode(&self, latent: &Tensor, _shape: &LatentShape) -> Result<Tensor, PipelineError> {
        Ok(latent.clone())
    }

    /// No preview decoder: every frame is decoded in full.
    fn preview(
        &self,
        _latent: &Tensor,
        _shape: &LatentShape,
    ) -> Result<Option<Tensor>, PipelineError> {
        Ok(None)
    }

    async fn rgba(&self, image: &Tensor) -> Result<Frame, PipelineError> {
        let values = image.to_vec(self.gpu).await?;
        Ok(Frame {
            width: values.len(),
            height: 1,
            rgba: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        })
    }

    async fn latent_values(
        &self,
        latent: &Tensor,
        _shape: &LatentShape,
    ) -> Result<Vec<f32>, PipelineError> {
        Ok(latent.to_vec(self.gpu).await?)
    }

    #[cfg(not(target_arch = "wasm32"))]
    fn finish(&self) -> Result<(), PipelineError> {
        Ok(self.gpu.finish()?)
    }
}

/// 16 image tokens of 64 features: a 32×32 latent of 16 channels packed.
const SHAPE: LatentShape = LatentShape {
    channels: 16,
    height: 8,
    width: 8,
    pixels_per_latent: 8,
};
const LEN: usize = 16 * 64;

fn plan(schedule: Vec<f64>, cfg_scale: Option<f32>) -> RunPlan {
    RunPlan {
        shape: SHAPE,
        full_schedule: schedule.clone(),
        schedule,
        seed: 0,
        cfg_scale,
        guidance: None,
    }
}

fn tensor(gpu: &Gpu, values: &[f32]) -> Tensor {
    Tensor::from_slice(gpu, values, &[16, 64]).unwrap()
}

fn text(prompt: Tensor, unconditional: Option<Tensor>) -> Conditioning<Tensor> {
    Conditioning {
        prompt,
        unconditional,
        truncations: Vec::new(),
    }
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

#[test]
fn every_step_predicts_the_clean_latent_and_the_run_lands_on_it() {
    let gpu = gpu();
    let clean_values = random(1, LEN);
    let noise_values = random(2, LEN);
    for (steps, shift) in [(4, None), (20, Some(ScheduleShift::DEV))] {
        let schedule = timesteps(steps, shift, 16);
        let mut generation = Generation::new(
            StraightPaths { gpu: &gpu },
            plan(schedule.clone(), None),
            text(tensor(&gpu, &clean_values), None),
            tensor(&gpu, &noise_values),
            None,
        )
        .unwrap();
        assert_eq!(generation.schedule(), &schedule[..]);
        assert_eq!(generation.step_count(), steps);
        let mut seen = Vec::new();
        let mut x_t = noise_values.clone();
        while let Some(step) = generation.step().unwrap() {
            let t = schedule[step.index];
            // x̂₀ = x_t − t·v is the clean latent; v = (x_t − x₀)/t by hand.
            let predicted = read(&gpu, generation.latent(Show::PredictedClean));
            let error = max_difference(&predicted, &clean_values);
            assert!(
                error < 1e-4,
                "step {} at t = {t}: x̂₀ off by {error}",
                step.index
            );
            let velocity: Vec<f32> = x_t
                .iter()
                .zip(&clean_values)
                .map(|(x, c)| (x - c) / t as f32)
                .collect();
            let got = read(&gpu, generation.latent(Show::Velocity));
            assert!(max_difference(&got, &velocity) < 1e-3 * (1.0 / t as f32).max(1.0));
            x_t = read(&gpu, generation.latent(Show::Current));
            seen.push((step.index, step.count, step.t));
        }
        let expected: Vec<_> = (0..steps).map(|i| (i, steps, schedule[i])).collect();
        assert_eq!(seen, expected);
        assert_eq!(generation.steps_done(), steps);
        let error = max_difference(&x_t, &clean_values);
        assert!(error < 1e-4, "{steps} steps: final latent off by {error}");
    }
}

#[test]
fn a_start_image_is_noised_to_the_first_time_and_restored() {
    let gpu = gpu();
    let (clean_values, noise_values) = (random(3, LEN), random(4, LEN));
    let full = timesteps(10, None, 16);
    let strength_start = image_to_image_start(&full, 0.6);
    for schedule in [full[strength_start..].to_vec(), from_time(&full, 0.55)] {
        let t = schedule[0];
        let mut generation = Generation::new(
            StraightPaths { gpu: &gpu },
            RunPlan {
                full_schedule: full.clone(),
                ..plan(schedule.clone(), None)
            },
            text(tensor(&gpu, &clean_values), None),
            tensor(&gpu, &noise_values),
            Some(tensor(&gpu, &clean_values)),
        )
        .unwrap();
        let start = read(&gpu, generation.latent(Show::Current));
        let want = lerp(&clean_values, &noise_values, t);
        assert!(max_difference(&start, &want) < 1e-6, "start at t = {t}");
        assert_eq!(generation.step_count(), schedule.len() - 1);
        while generation.step().unwrap().is_some() {}
        let last = read(&gpu, generation.latent(Show::Current));
        assert!(max_difference(&last, &clean_values) < 1e-4, "from t = {t}");
    }
}

#[test]
fn the_forward_process_needs_no_model_and_a_run_restarts_from_any_time() {
    let gpu = gpu();
    let (clean_values, noise_values) = (random(5, LEN), random(6, LEN));
    let full = timesteps(8, None, 16);
    let mut generation = Generation::new(
        StraightPaths { gpu: &gpu },
        plan(full.clone(), None),
        text(tensor(&gpu, &clean_values), None),
        tensor(&gpu, &noise_values),
        None,
    )
    .unwrap();
    // From pure noise there is no clean image to noise until the run ends.
    let error = generation.forward(0.5).expect_err("no clean image yet");
    assert!(error.to_string().contains("has not finished"), "{error}");
    while generation.step().unwrap().is_some() {}
    let result = read(&gpu, generation.latent(Show::Current));
    let error = generation.forward(1.5).expect_err("t outside [0, 1]");
    assert!(error.to_string().contains("outside [0, 1]"), "{error}");

    for t in [0.0, 0.3, 0.8, 1.0] {
        let noised = read(&gpu, &generation.forward(t).unwrap());
        let want = lerp(&result, &noise_values, t);
        assert!(max_difference(&noised, &want) < 1e-6, "forward to {t}");
    }

    // Restart at 0.4: the run's times are 0.4 and the schedule's below it;
    // the start latent is the forward process at 0.4, and the run restores
    // the image.
    let before = gpu.stats();
    generation.restart_at(0.4).unwrap();
    assert_eq!((gpu.stats() - before).pipelines_created, 0);
    assert_eq!(generation.schedule(), &[0.4, 0.375, 0.25, 0.125, 0.0][..]);
    assert_eq!(generation.steps_done(), 0);
    let start = read(&gpu, generation.latent(Show::Current));
    assert!(max_difference(&start, &lerp(&result, &noise_values, 0.4)) < 1e-6);
    while generation.step().unwrap().is_some() {}
    let restored = read(&gpu, generation.latent(Show::Current));
    assert!(max_difference(&restored, &result) < 1e-4);
}

#[test]
fn true_cfg_steers_from_the_empty_prompt_by_the_scale() {
    let gpu = gpu();
    let (toward, away, noise_values) = (random(7, LEN), random(8, LEN), random(9, LEN));
    let scale = 3.0f32;
    let mut generation = Generation::new(
        StraightPaths { gpu: &gpu },
        plan(timesteps(4, None, 16), Some(scale)),
        text(tensor(&gpu, &toward), Some(tensor(&gpu, &away))),
        tensor(&gpu, &noise_values),
        None,
    )
    .unwrap();
    generation.step().unwrap();
    // At t = 1: v_c = x − toward, v_u = x − away, v = v_u + s·(v_c − v_u).
    let want: Vec<f32> = (0..LEN)
        .map(|i| {
            let (vc, vu) = (noise_values[i] - toward[i], noise_values[i] - away[i]);
            vu + scale * (vc - vu)
        })
        .collect();
    let got = read(&gpu, generation.latent(Show::Velocity));
    assert!(max_difference(&got, &want) < 1e-4);
}

#[test]
fn the_history_gives_back_each_step_as_it_was_computed() {
    let gpu = gpu();
    let (clean_values, noise_values) = (random(10, LEN), random(11, LEN));
    let schedule = timesteps(6, None, 16);
    let new = |history| {
        Generation::new(
            StraightPaths { gpu: &gpu },
            plan(schedule.clone(), None),
            text(tensor(&gpu, &clean_values), None),
            tensor(&gpu, &noise_values),
            None,
        )
        .unwrap()
        .with_history(history)
    };
    let show = [Show::Current, Show::PredictedClean, Show::Velocity];
    let mut generation = new(HISTORY_LIMIT + 10);
    assert_eq!(generation.history().capacity(), HISTORY_LIMIT);
    let mut live = Vec::new();
    while generation.step().unwrap().is_some() {
        let frames: Vec<Frame> = show
            .iter()
            .map(|&show| pollster::block_on(generation.frame(show)).unwrap())
            .collect();
        live.push(frames);
    }
    assert_eq!(generation.history().kept(), 0..6);
    for (index, frames) in live.iter().enumerate() {
        let record = generation.history().get(index).unwrap();
        assert_eq!(record.t, schedule[index]);
        assert_eq!(record.t_next, schedule[index + 1]);
        for (&show, frame) in show.iter().zip(frames) {
            let again = pollster::block_on(generation.frame_of(record.latent(show))).unwrap();
            assert!(&again == frame, "step {index}, {show:?}");
            // Without a preview decoder, a preview is the full frame.
            let preview = generation.frame_by(record.latent(show), Decode::Preview);
            assert!(
                &pollster::block_on(preview).unwrap() == frame,
                "step {index}, {show:?}"
            );
        }
    }

    // A history of 2 keeps the last two steps only; none keeps nothing.
    let mut short = new(2);
    while short.step().unwrap().is_some() {}
    assert_eq!(short.history().kept(), 4..6);
    assert!(short.history().get(3).is_none());
    let mut none = new(0);
    while none.step().unwrap().is_some() {}
    assert_eq!(none.history().kept(), 0..0);
}

#[test]
fn repeated_runs_allocate_nothing_after_the_first() {
    let gpu = gpu();
    let clean = tensor(&gpu, &random(12, LEN));
    let noise = tensor(&gpu, &random(13, LEN));
    let run = || {
        let mut generation = Generation::new(
            StraightPaths { gpu: &gpu },
            plan(timesteps(4, None, 16), None),
            text(clean.clone(), None),
            noise.clone(),
            None,
        )
        .unwrap();
        while generation.step().unwrap().is_some() {}
        generation.latent(Show::Current).clone()
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
