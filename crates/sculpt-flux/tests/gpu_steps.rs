//! The step-level API on the shipped built-in model, on both backends: what
//! the visualizer shows. Per step, x_t, the predicted clean latent x̂₀ and
//! the velocity on the GPU equal the CPU backend's (candle-transformers'
//! FLUX), and on the CPU they follow the Euler step worked out by hand from
//! the step before; a run's history draws the same bytes as each step drew
//! when it was computed; an image noised to t (the forward process) and
//! restored agrees between the backends, and a run restarted at t equals a
//! fresh run from t.
//!
//! Tolerances: latents within 2e-4 of each other across backends (they
//! agree to ~1e-6 after four steps under CFG 3.0; see `gpu_cpu_parity.rs`
//! for why they differ at all), frames within 1/255 per channel. Within one
//! backend, by-hand checks use 1e-5 (one rounding of f32 products), and
//! history frames are compared byte for byte.
//!
//! Run natively: `XDG_RUNTIME_DIR=/tmp/xdg cargo test -p sculpt-flux --features cpu --test gpu_steps`.

#![cfg(not(target_arch = "wasm32"))]

mod built_in;

use std::rc::Rc;

use pollster::block_on;
use sculpt_flux::cpu::CpuPipeline;
use sculpt_flux::generation::{Backend, Frame, Generation, Pipeline, Show};
use sculpt_flux::gpu::GpuPipeline;
use sculpt_flux::pipeline::{GenerateRequest, ImageStart, InitImage};
use sculpt_gpu::{Gpu, Tensor};

use built_in::{Source, difference, files, manifest, open_cpu, open_gpu};

const SHOWS: [Show; 3] = [Show::Current, Show::PredictedClean, Show::Velocity];

fn request() -> GenerateRequest {
    GenerateRequest {
        prompt: "a green triangle on a white background".into(),
        width: 64,
        height: 64,
        steps: 4,
        seed: 21,
        guidance: None,
        cfg_scale: None,
        init_image: None,
    }
}

fn gpu_pipeline(gpu: &Rc<Gpu>) -> GpuPipeline<Source> {
    let manifest = manifest();
    open_gpu(gpu, &manifest, files(&manifest))
}

fn cpu_pipeline() -> CpuPipeline {
    let manifest = manifest();
    open_cpu(&manifest, files(&manifest))
}

fn gpu() -> Rc<Gpu> {
    Rc::new(block_on(Gpu::new()).expect("a GPU adapter (lavapipe without a GPU)"))
}

fn gpu_values(gpu: &Gpu) -> impl Fn(&Tensor) -> Vec<f32> + '_ {
    move |tensor| block_on(tensor.to_vec(gpu)).unwrap()
}

fn cpu_values(tensor: &candle_core::Tensor) -> Vec<f32> {
    tensor.flatten_all().unwrap().to_vec1().unwrap()
}

fn max_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// The start latent, then per step the latents x_t (after the step), x̂₀
/// and v, as values; and the frames each step drew of all three.
struct Run {
    start: Vec<f32>,
    steps: Vec<[Vec<f32>; 3]>,
    /// Each step's implied noise ε̂.
    implied: Vec<Vec<f32>>,
    frames: Vec<Vec<Frame>>,
    schedule: Vec<f64>,
}

/// Runs `request` a step at a time with a history, drawing every step of
/// every kind, then checks that the history draws the same bytes again.
fn run_and_scrub<P: Pipeline>(
    pipeline: &mut P,
    request: &GenerateRequest,
    values: impl Fn(&<P::Backend as Backend>::Latent) -> Vec<f32>,
) -> Run {
    let mut generation = block_on(pipeline.start(request)).unwrap().with_history(16);
    let start = values(generation.latent(Show::Current));
    let schedule = generation.schedule().to_vec();
    let mut steps = Vec::new();
    let mut implied = Vec::new();
    let mut frames = Vec::new();
    while generation.step().unwrap().is_some() {
        steps.push(SHOWS.map(|show| values(generation.latent(show))));
        let noise = generation
            .implied_noise(
                generation.latent(Show::PredictedClean),
                generation.latent(Show::Velocity),
            )
            .unwrap();
        implied.push(values(&noise));
        frames.push(
            SHOWS
                .iter()
                .map(|&show| block_on(generation.frame(show)).unwrap())
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(generation.history().kept(), 0..steps.len());
    for (index, drawn) in frames.iter().enumerate() {
        let record = generation.history().get(index).unwrap();
        assert_eq!(
            (record.t, record.t_next),
            (schedule[index], schedule[index + 1])
        );
        for (&show, frame) in SHOWS.iter().zip(drawn) {
            let again = block_on(generation.frame_of(record.latent(show))).unwrap();
            assert!(
                &again == frame,
                "step {index}, {show:?}: scrubbing drew other bytes"
            );
        }
    }
    Run {
        start,
        steps,
        implied,
        frames,
        schedule,
    }
}

/// x̂₀ = x_t − t·v and x_{t'} = x_t + (t' − t)·v, from the step before;
/// the implied noise ε̂ = x_t + (1 − t)·v, which at the first step from
/// pure noise (t = 1) is the start noise itself.
fn assert_euler_by_hand(run: &Run) {
    let mut x_t = run.start.clone();
    assert_eq!(run.schedule[0], 1.0, "the run starts from pure noise");
    let error = max_difference(&run.implied[0], &run.start);
    assert!(error < 1e-5, "ε̂ at t = 1 is the start noise: {error}");
    for (index, [after, clean, velocity]) in run.steps.iter().enumerate() {
        let (t, t_next) = (run.schedule[index] as f32, run.schedule[index + 1] as f32);
        let want_noise: Vec<f32> = x_t
            .iter()
            .zip(velocity)
            .map(|(x, v)| x + (1.0 - t) * v)
            .collect();
        let error = max_difference(&run.implied[index], &want_noise);
        assert!(error < 1e-5, "step {index}: ε̂ differs by {error}");
        let want_clean: Vec<f32> = x_t.iter().zip(velocity).map(|(x, v)| x - t * v).collect();
        let want_after: Vec<f32> = x_t
            .iter()
            .zip(velocity)
            .map(|(x, v)| x + (t_next - t) * v)
            .collect();
        assert!(
            max_difference(clean, &want_clean) < 1e-5,
            "step {index}: x̂₀"
        );
        assert!(
            max_difference(after, &want_after) < 1e-5,
            "step {index}: x_t'"
        );
        x_t = after.clone();
    }
}

#[test]
fn every_step_matches_the_cpu_reference_and_scrubs_back_exactly() {
    let gpu = gpu();
    let request = request();
    let on_gpu = run_and_scrub(&mut gpu_pipeline(&gpu), &request, gpu_values(&gpu));
    let on_cpu = run_and_scrub(&mut cpu_pipeline(), &request, cpu_values);
    assert_eq!(on_gpu.schedule, on_cpu.schedule);
    assert_eq!(on_gpu.steps.len(), 4);
    assert_euler_by_hand(&on_cpu);
    assert_euler_by_hand(&on_gpu);
    assert_eq!(
        on_gpu.start, on_cpu.start,
        "the seed's noise is the same bits"
    );
    for (index, (gpu_step, cpu_step)) in on_gpu.steps.iter().zip(&on_cpu.steps).enumerate() {
        for ((show, gpu_latent), cpu_latent) in SHOWS.iter().zip(gpu_step).zip(cpu_step) {
            let error = max_difference(gpu_latent, cpu_latent);
            println!("step {index} {show:?}: latents differ by {error:e}");
            assert!(error < 2e-4, "step {index} {show:?}: {error}");
        }
        // The velocity is not a small correction: it moves the latent.
        let [_, _, velocity] = cpu_step;
        assert!(velocity.iter().map(|v| v.abs()).sum::<f32>() / velocity.len() as f32 > 0.1);
    }
    for (index, (gpu_frames, cpu_frames)) in on_gpu.frames.iter().zip(&on_cpu.frames).enumerate() {
        for ((show, gpu_frame), cpu_frame) in SHOWS.iter().zip(gpu_frames).zip(cpu_frames) {
            let (worst, _) = difference(&gpu_frame.rgba, &cpu_frame.rgba);
            assert!(
                worst <= 1,
                "step {index} {show:?}: frames differ by {worst}/255"
            );
        }
    }
}

/// The test's request, starting from `image` noised to t = 0.6.
fn from_image(image: &Frame) -> GenerateRequest {
    GenerateRequest {
        init_image: Some(InitImage {
            width: image.width,
            height: image.height,
            rgba: image.rgba.clone(),
            start: ImageStart::Time(0.6),
        }),
        ..request()
    }
}

/// Noises `image` to t = 0.6 (the forward process alone: no step), and
/// restores it; also through `restart_at` on a finished run. Returns the
/// noised frame and the restored one.
fn noise_and_restore<P: Pipeline>(pipeline: &mut P, image: &Frame) -> (Frame, Frame) {
    let mut generation: Generation<_> = block_on(pipeline.start(&from_image(image))).unwrap();
    // 4 steps from 1: 1, 0.75, 0.5, …; from 0.6 the run visits 0.6, 0.5, 0.25, 0.
    assert_eq!(generation.schedule(), &[0.6, 0.5, 0.25, 0.0][..]);
    let noised = block_on(generation.frame(Show::Current)).unwrap();
    // The forward process to the start time is the start latent itself.
    let forward = generation.forward(0.6).unwrap();
    assert!(block_on(generation.frame_of(&forward)).unwrap() == noised);
    while generation.step().unwrap().is_some() {}
    let restored = block_on(generation.frame(Show::Current)).unwrap();
    // Restarting at 0.6 runs the same steps from the same start again.
    generation.restart_at(0.6).unwrap();
    assert!(block_on(generation.frame(Show::Current)).unwrap() == noised);
    let again = block_on(generation.finish()).unwrap();
    assert!(again == restored, "a restarted run equals the first");
    (noised, restored)
}

/// The forward process is the straight line x_t = (1 − t)·x₀ + t·ε between
/// its ends, worked out here element by element; its noisy end is the
/// seed's noise, the latent a run from pure noise starts at.
fn assert_forward_by_hand<P: Pipeline>(
    pipeline: &mut P,
    image: &Frame,
    values: impl Fn(&<P::Backend as Backend>::Latent) -> Vec<f32>,
) {
    let generation = block_on(pipeline.start(&from_image(image))).unwrap();
    let clean = values(&generation.forward(0.0).unwrap());
    let noise = values(&generation.forward(1.0).unwrap());
    let from_noise = block_on(pipeline.start(&request())).unwrap();
    assert_eq!(
        noise,
        values(from_noise.latent(Show::Current)),
        "t = 1 is the seed's noise"
    );
    assert!(max_difference(&clean, &noise) > 0.5);
    for t in [0.3_f32, 0.6, 0.9] {
        let want: Vec<f32> = clean
            .iter()
            .zip(&noise)
            .map(|(x, e)| (1.0 - t) * x + t * e)
            .collect();
        let got = values(&generation.forward(f64::from(t)).unwrap());
        let error = max_difference(&got, &want);
        assert!(error < 1e-5, "t = {t}: {error}");
    }
    assert!(generation.forward(1.5).is_err(), "t beyond 1 is refused");
}

/// A run's latent as the page looks inside it, `[channels, height, width]`,
/// is its image tokens unpacked from 2×2 patches as FLUX packs them (each
/// token holds its patch channel by channel, rows then columns), worked
/// out here by hand. Returns the start latent's values.
fn assert_latent_unpacked_by_hand<P: Pipeline>(
    pipeline: &mut P,
    values: impl Fn(&<P::Backend as Backend>::Latent) -> Vec<f32>,
) -> Vec<f32> {
    let generation = block_on(pipeline.start(&request())).unwrap();
    let tokens = values(generation.latent(Show::Current));
    let unpacked = block_on(generation.latent_values(generation.latent(Show::Current))).unwrap();
    let shape = *generation.shape();
    let (channels, height, width) = (shape.channels, shape.height, shape.width);
    assert_eq!(unpacked.len(), channels * height * width);
    let features = channels * 4;
    for c in 0..channels {
        for y in 0..height {
            for x in 0..width {
                let token = (y / 2) * (width / 2) + x / 2;
                let feature = c * 4 + (y % 2) * 2 + x % 2;
                assert_eq!(
                    unpacked[(c * height + y) * width + x],
                    tokens[token * features + feature],
                    "channel {c}, row {y}, column {x}"
                );
            }
        }
    }
    unpacked
}

#[test]
fn noising_to_t_and_restoring_agree_on_both_backends() {
    let gpu = gpu();
    let mut on_gpu = gpu_pipeline(&gpu);
    let mut on_cpu = cpu_pipeline();
    let image = block_on(on_gpu.generate(&request(), |_, _| Ok(()))).unwrap();
    assert_forward_by_hand(&mut on_gpu, &image, gpu_values(&gpu));
    assert_forward_by_hand(&mut on_cpu, &image, cpu_values);
    let gpu_latent = assert_latent_unpacked_by_hand(&mut on_gpu, gpu_values(&gpu));
    let cpu_latent = assert_latent_unpacked_by_hand(&mut on_cpu, cpu_values);
    let error = max_difference(&gpu_latent, &cpu_latent);
    assert!(error < 1e-5, "latent values differ by {error}");
    let (gpu_noised, gpu_restored) = noise_and_restore(&mut on_gpu, &image);
    let (cpu_noised, cpu_restored) = noise_and_restore(&mut on_cpu, &image);
    for (what, a, b) in [
        ("noised to 0.6", &gpu_noised, &cpu_noised),
        ("restored", &gpu_restored, &cpu_restored),
    ] {
        let (worst, differing) = difference(&a.rgba, &b.rgba);
        println!("{what}: worst {worst}/255, {differing} channels differ");
        assert!(worst <= 1, "{what}: {worst}/255");
    }
    // Noise changes the image; restoring brings it nearer again.
    let distance = |a: &Frame| {
        a.rgba
            .iter()
            .zip(&image.rgba)
            .map(|(x, y)| u64::from(x.abs_diff(*y)))
            .sum::<u64>()
    };
    assert!(
        distance(&gpu_restored) < distance(&gpu_noised),
        "restored {} vs noised {}",
        distance(&gpu_restored),
        distance(&gpu_noised)
    );
}

/// The preview decoder on both backends against its plain reference
/// ([`PreviewDecoder::decode`] on the latent's values), and the full
/// decoder still drawing the last step: what a page draws with
/// `preview: "fast"`.
#[test]
fn preview_frames_match_the_reference_on_both_backends() {
    use sculpt_flux::generation::Decode;
    use sculpt_flux::models::preview::PreviewDecoder;
    use sculpt_gpu::kernels::frame::to_rgba8_cpu;

    let preview_bytes = std::fs::read(built_in::model_dir().join("preview.safetensors")).unwrap();
    let reference = block_on(PreviewDecoder::from_safetensors(
        "preview.safetensors",
        &preview_bytes,
    ))
    .unwrap();
    assert_eq!((reference.kernel, reference.factor), (3, 8));
    let gpu = gpu();
    let mut on_gpu = gpu_pipeline(&gpu);
    let mut on_cpu = cpu_pipeline();
    let request = request();
    let mut gpu_run = block_on(on_gpu.start(&request)).unwrap();
    let mut cpu_run = block_on(on_cpu.start(&request)).unwrap();
    fn check<B: Backend>(run: &Generation<B>, reference: &PreviewDecoder, what: &str) {
        for show in SHOWS {
            let latent = run.latent(show);
            let values = block_on(run.latent_values(latent)).unwrap();
            let shape = run.shape();
            let want = to_rgba8_cpu(
                &reference.decode(&values, shape.height, shape.width),
                64,
                64,
            );
            let preview = block_on(run.frame_by(latent, Decode::Preview)).unwrap();
            assert_eq!((preview.width, preview.height), (64, 64));
            let (worst, _) = difference(&preview.rgba, &want);
            assert!(
                worst <= 1,
                "{what} {show:?}: preview off its reference by {worst}/255"
            );
            let full = block_on(run.frame_by(latent, Decode::Full)).unwrap();
            assert_eq!(full, block_on(run.frame_of(latent)).unwrap());
            assert_ne!(
                full.rgba, preview.rgba,
                "{what} {show:?}: the preview is its own decoder"
            );
        }
    }
    for _ in 0..2 {
        gpu_run.step().unwrap();
        cpu_run.step().unwrap();
        check(&gpu_run, &reference, "GPU");
        check(&cpu_run, &reference, "CPU");
    }
}
