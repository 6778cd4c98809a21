//! The CPU fallback on the built-in model, without a GPU: a seed always
//! gives the same pixels and another seed others, every step can be drawn
//! from either latent, and models it cannot run are refused by name.
//! (Equality with the GPU pipeline is `gpu_cpu_parity.rs`.)
//!
//! Run: `cargo test -p sculpt-flux --features cpu --test cpu_pipeline`.

#![cfg(not(target_arch = "wasm32"))]

mod built_in;

use pollster::block_on;
use sculpt_flux::checkpoint::Role;
use sculpt_flux::cpu::CpuPipeline;
use sculpt_flux::generation::{Pipeline, Show};
use sculpt_flux::pipeline::{GenerateRequest, PipelineError, RequestError};

use built_in::{defaults, difference, files, manifest, open_cpu};

fn pipeline() -> CpuPipeline {
    let manifest = manifest();
    open_cpu(&manifest, files(&manifest))
}

fn request(seed: u64) -> GenerateRequest {
    GenerateRequest {
        prompt: "a blue square on white".into(),
        width: 64,
        height: 64,
        steps: 3,
        seed,
        guidance: None,
        cfg_scale: None,
        init_image: None,
    }
}

#[test]
fn the_same_seed_gives_the_same_pixels_and_another_seed_others() {
    let mut pipeline = pipeline();
    let mut frames = Vec::new();
    for seed in [5, 5, 6] {
        let mut seen = Vec::new();
        let image = block_on(pipeline.generate(&request(seed), |generation, step| {
            assert_eq!(step.count, 3);
            seen.push(step.index);
            assert_eq!(
                block_on(generation.frame(Show::Current))?.rgba.len(),
                64 * 64 * 4
            );
            Ok(())
        }))
        .unwrap();
        assert_eq!(seen, [0, 1, 2]);
        frames.push(image.rgba);
    }
    assert_eq!(frames[0], frames[1], "seed 5 twice");
    let (worst, differing) = difference(&frames[0], &frames[2]);
    println!("seeds 5 and 6: worst {worst}/255, {differing} channels differ");
    assert!(
        differing > frames[0].len() / 4,
        "{differing} channels differ"
    );
}

#[test]
fn steps_show_the_noisy_and_the_predicted_image() {
    let mut pipeline = pipeline();
    let mut generation = block_on(pipeline.start(&request(9))).unwrap();
    assert_eq!(generation.step_count(), 3);
    generation.step().unwrap();
    let noisy = block_on(generation.frame(Show::Current)).unwrap();
    let clean = block_on(generation.frame(Show::PredictedClean)).unwrap();
    // After one of three steps x_t is still two thirds noise.
    let (_, differing) = difference(&noisy.rgba, &clean.rgba);
    assert!(differing > noisy.rgba.len() / 4, "{differing}");
    generation.step().unwrap();
    generation.step().unwrap();
    assert!(generation.step().unwrap().is_none());
    // The last step goes to t = 0: x_t + (0 − t)·v is the prediction
    // x_t − t·v itself, so both frames are the final image.
    assert_eq!(
        block_on(generation.frame(Show::Current)).unwrap(),
        block_on(generation.frame(Show::PredictedClean)).unwrap()
    );
}

#[test]
fn requests_and_models_the_cpu_cannot_run_are_refused_by_name() {
    let mut pipeline = pipeline();
    let bad = GenerateRequest {
        width: 72,
        ..request(1)
    };
    assert!(matches!(
        block_on(pipeline.start(&bad)),
        Err(PipelineError::Request(
            RequestError::SizeNotMultipleOf16 { .. }
        ))
    ));

    let manifest = manifest();
    let mut sharded = files(&manifest);
    let transformer = sharded.weights.get_mut(&Role::Transformer).unwrap();
    transformer.push(transformer[0].clone());
    let error = block_on(CpuPipeline::open(
        defaults(&manifest),
        manifest.config.clone(),
        sharded,
    ))
    .err()
    .expect("two transformer files are refused");
    assert!(error.to_string().contains("split in 2 shards"), "{error}");

    let mut swapped = files(&manifest);
    let (clip, t5) = (
        swapped.weights.remove(&Role::Clip).unwrap(),
        swapped.weights.remove(&Role::T5).unwrap(),
    );
    swapped.weights.insert(Role::Clip, t5);
    swapped.weights.insert(Role::T5, clip);
    let error = block_on(CpuPipeline::open(
        defaults(&manifest),
        manifest.config.clone(),
        swapped,
    ))
    .err()
    .expect("T5 weights where CLIP belongs are refused");
    assert!(error.to_string().contains("t5.safetensors"), "{error}");
}
