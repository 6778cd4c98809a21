//! The CPU fallback against the GPU pipeline on the shipped built-in model:
//! the same request (4 steps, the manifest's true CFG 3.0) gives the same
//! pixels, for the final image, a preview of the predicted clean image, and
//! an image-to-image start; and the same for an autoencoder that
//! downsamples 4× instead of 8×; and for a model family this test defines
//! (FLUX.1 without CLIP), which proves the roster open.
//!
//! Tolerance: at most 1 of 255 per channel (measured: 1, in a handful of
//! the 16384 channels). Both pipelines read the same Q8_0 transformer and
//! dequantize its blocks the same way (d·q, d from f16, exact in f32), so
//! the weights are identical and both compute in f32: what remains is
//! rounding (summation order in the matmuls, convolutions and attention, a
//! few ULP in exp/tanh), the latents agreeing to ~1e-6 after four steps
//! under CFG 3.0; a pixel can still land on the other side of a rounding
//! boundary. A wrong stage (other noise, a wrong schedule, no CFG, a
//! mis-read tensor, candle's mis-taken channels-last convolution) moves
//! most pixels by tens; the run prints the measured figures.
//!
//! Run natively: `XDG_RUNTIME_DIR=/tmp/xdg cargo test -p sculpt-flux --features cpu --test gpu_cpu_parity`.

#![cfg(not(target_arch = "wasm32"))]

use std::rc::Rc;

mod built_in;
mod common;

use sculpt_flux::checkpoint::{ModelConfig, Role, autoencoder_layout};
use sculpt_flux::cpu::CpuPipeline;
use sculpt_flux::family::{Family, TextOutput, TextStage};
use sculpt_flux::formats::f32_safetensors_bytes;
use sculpt_flux::generation::{Frame, Pipeline, Show};
use sculpt_flux::gpu::GpuPipeline;
use sculpt_flux::models::autoencoder::AutoEncoderConfig;
use sculpt_flux::pipeline::{
    DeviceLimits, GenerateRequest, ImageStart, InitImage, Manifest, ModelDefaults, ModelFiles,
};
use sculpt_gpu::Gpu;

use built_in::{Source, defaults, difference, files, manifest, open_cpu, open_gpu};
use common::random_safetensors;

const TOLERANCE: u8 = 1;

fn request() -> GenerateRequest {
    GenerateRequest {
        prompt: "a red circle on a blue background".into(),
        width: 64,
        height: 64,
        steps: 4,
        seed: 7,
        guidance: None,
        cfg_scale: None,
        init_image: None,
    }
}

/// The preview after step 2 (predicted clean) and the final image, on
/// either backend.
fn preview_and_final(pipeline: &mut impl Pipeline, request: &GenerateRequest) -> (Frame, Frame) {
    pollster::block_on(async {
        let mut generation = pipeline.start(request).await.unwrap();
        generation.step().unwrap();
        generation.step().unwrap();
        let preview = generation.frame(Show::PredictedClean).await.unwrap();
        (preview, generation.finish().await.unwrap())
    })
}

fn on_gpu(gpu: &Rc<Gpu>, request: &GenerateRequest) -> (Frame, Frame) {
    let manifest = manifest();
    on_gpu_with(gpu, &manifest, files(&manifest), request)
}

fn on_gpu_with(
    gpu: &Rc<Gpu>,
    manifest: &Manifest,
    files: ModelFiles<Source>,
    request: &GenerateRequest,
) -> (Frame, Frame) {
    preview_and_final(&mut open_gpu(gpu, manifest, files), request)
}

fn on_cpu(request: &GenerateRequest) -> (Frame, Frame) {
    let manifest = manifest();
    on_cpu_with(&manifest, files(&manifest), request)
}

fn on_cpu_with(
    manifest: &Manifest,
    files: ModelFiles<Source>,
    request: &GenerateRequest,
) -> (Frame, Frame) {
    preview_and_final(&mut open_cpu(manifest, files), request)
}

/// `request` starting from `frame` at strength 0.5.
fn from_image(request: GenerateRequest, frame: &Frame) -> GenerateRequest {
    GenerateRequest {
        init_image: Some(InitImage {
            width: frame.width,
            height: frame.height,
            rgba: frame.rgba.clone(),
            start: ImageStart::Strength(0.5),
        }),
        ..request
    }
}

fn assert_same_image(what: &str, cpu: &Frame, gpu: &Frame) {
    assert_eq!((cpu.width, cpu.height), (gpu.width, gpu.height));
    let (worst, differing) = difference(&cpu.rgba, &gpu.rgba);
    println!(
        "{what}: worst difference {worst}/255; {differing} of {} channels differ",
        cpu.rgba.len()
    );
    assert!(worst <= TOLERANCE, "{what}: worst difference {worst}/255");
    // A flat image would hide errors: the built-in model draws shapes.
    let reds: std::collections::BTreeSet<u8> = gpu.rgba.chunks(4).map(|p| p[0]).collect();
    assert!(
        reds.len() > 20,
        "{what}: {} distinct red values",
        reds.len()
    );
}

#[test]
fn cpu_generation_matches_the_gpu_on_the_built_in_model() {
    let gpu =
        Rc::new(pollster::block_on(Gpu::new()).expect("a GPU adapter (lavapipe without a GPU)"));
    let request = request();
    let (gpu_preview, gpu_final) = on_gpu(&gpu, &request);
    let (cpu_preview, cpu_final) = on_cpu(&request);
    assert_same_image("predicted clean after 2 steps", &cpu_preview, &gpu_preview);
    assert_same_image("final image", &cpu_final, &gpu_final);

    // Image-to-image from the final image at strength 0.5: the encoder,
    // the noised start and the tail of the schedule.
    let from_image = GenerateRequest {
        prompt: "a yellow star on black".into(),
        seed: 11,
        ..from_image(request, &gpu_final)
    };
    let (_, gpu_final) = on_gpu(&gpu, &from_image);
    let (_, cpu_final) = on_cpu(&from_image);
    assert_same_image("image to image", &cpu_final, &gpu_final);
}

/// An autoencoder with two downsamplings instead of FLUX's three: a 64×64
/// image is a 16×16 latent, 64 image tokens rather than 16. Both pipelines
/// size the noise, the tokens and the decoded image from the autoencoder's
/// configuration, so they agree and the frames are 64×64 (with the latent
/// sized for 8×, the decoder would draw 32×32). The built-in transformer
/// and text encoders, a random autoencoder.
#[test]
fn an_autoencoder_that_downsamples_4x_gives_the_same_pixels_on_both() {
    let gpu =
        Rc::new(pollster::block_on(Gpu::new()).expect("a GPU adapter (lavapipe without a GPU)"));
    let mut manifest = manifest();
    manifest
        .config
        .insert(ModelConfig::Autoencoder(AutoEncoderConfig {
            ch_mult: vec![1, 2, 2],
            ..manifest.config.autoencoder().clone()
        }));
    assert_eq!(manifest.config.autoencoder().pixels_per_latent(), 4);
    let files = || {
        let mut files = files(&manifest);
        let autoencoder = random_safetensors(
            "autoencoder-4x.safetensors",
            autoencoder_layout(manifest.config.autoencoder()),
            3,
        );
        files.weights.insert(Role::Autoencoder, vec![autoencoder]);
        // The built-in preview decoder draws 8× latents: it would be refused.
        files.preview = None;
        files
    };
    let request = request();
    let (gpu_preview, gpu_final) = on_gpu_with(&gpu, &manifest, files(), &request);
    let (cpu_preview, cpu_final) = on_cpu_with(&manifest, files(), &request);
    assert_eq!((gpu_final.width, gpu_final.height), (64, 64));
    assert_eq!(gpu_final.rgba.len(), 64 * 64 * 4);
    assert_same_image(
        "4x: predicted clean after 2 steps",
        &cpu_preview,
        &gpu_preview,
    );
    assert_same_image("4x: final image", &cpu_final, &gpu_final);

    // Image-to-image: the encoder's 16×16 latent is the start.
    let from_image = from_image(request, &gpu_final);
    let (_, gpu_final) = on_gpu_with(&gpu, &manifest, files(), &from_image);
    let (_, cpu_final) = on_cpu_with(&manifest, files(), &from_image);
    assert_same_image("4x: image to image", &cpu_final, &gpu_final);
}

/// A family defined in this test alone: FLUX.1 with CLIP left out, T5's
/// states its only text. Nothing in the pipelines names it; they read its
/// stages, run T5 only, and give the transformer's vector input zeros.
fn flux1_without_clip() -> Family {
    Family {
        id: "flux1-without-clip",
        name: "FLUX.1 without CLIP",
        text_encoders: vec![TextStage {
            role: Role::T5,
            output: TextOutput::States,
        }],
        imported_defaults: |name, configs| {
            ModelDefaults::flux(name, configs.transformer().guidance_embed)
        },
    }
}

/// The built-in CLIP with its final LayerNorm's scale and shift zeroed:
/// every state it gives, the pooled one too, is exactly 0.
fn clip_giving_zeros(manifest: &Manifest) -> Source {
    let path = built_in::model_dir().join(&manifest.files["clip"].path);
    let tensors =
        candle_core::safetensors::load(path, &candle_core::Device::Cpu).expect("the built-in CLIP");
    let tensors: Vec<(String, Vec<usize>, Vec<f32>)> = tensors
        .into_iter()
        .map(|(name, tensor)| {
            let shape = tensor.dims().to_vec();
            let mut values: Vec<f32> = tensor
                .to_dtype(candle_core::DType::F32)
                .and_then(|t| t.flatten_all())
                .and_then(|t| t.to_vec1())
                .unwrap();
            if name.starts_with("text_model.final_layer_norm.") {
                values.fill(0.0);
            }
            (name, shape, values)
        })
        .collect();
    let stored = tensors
        .iter()
        .map(|(name, shape, values)| (name.as_str(), shape.as_slice(), values.as_slice()));
    Source::new(
        "clip-zeros.safetensors",
        f32_safetensors_bytes(stored).unwrap(),
    )
}

#[test]
fn a_family_defined_in_a_test_generates_through_both_pipelines() {
    let gpu =
        Rc::new(pollster::block_on(Gpu::new()).expect("a GPU adapter (lavapipe without a GPU)"));
    let manifest = manifest();
    let request = request();
    let mut configs = manifest.config.clone();
    configs.remove(Role::Clip);
    let toy_files = || {
        let mut files = files(&manifest);
        files.family = flux1_without_clip();
        files.weights.remove(&Role::Clip);
        files.tokenizers.remove(&Role::Clip);
        files
    };
    // FLUX.1's CLIP among the files is refused: the family has no place
    // for it.
    let mut with_clip = files(&manifest);
    with_clip.family = flux1_without_clip();
    let error = pollster::block_on(GpuPipeline::open(
        Rc::clone(&gpu),
        defaults(&manifest),
        Some(configs.clone()),
        with_clip,
    ))
    .err()
    .expect("a CLIP the family does not run");
    assert!(
        error
            .to_string()
            .contains("FLUX.1 without CLIP model has no CLIP text model"),
        "{error}"
    );
    let mut toy_gpu = pollster::block_on(GpuPipeline::open(
        Rc::clone(&gpu),
        defaults(&manifest),
        Some(configs.clone()),
        toy_files(),
    ))
    .unwrap();
    // The memory plan has the family's stages only.
    let plan = toy_gpu.plan(64, 64, false, DeviceLimits::of(&gpu));
    let roles: Vec<Role> = plan.stages.iter().map(|stage| stage.role).collect();
    assert_eq!(roles, [Role::T5, Role::Transformer, Role::Autoencoder]);
    let (_, toy_on_gpu) = preview_and_final(&mut toy_gpu, &request);
    let mut toy_cpu =
        pollster::block_on(CpuPipeline::open(defaults(&manifest), configs, toy_files())).unwrap();
    let (_, toy_on_cpu) = preview_and_final(&mut toy_cpu, &request);
    assert_same_image("FLUX.1 without CLIP", &toy_on_cpu, &toy_on_gpu);

    // The reference: FLUX.1 itself, with a CLIP whose every output is 0,
    // gives exactly the same pixels on the GPU...
    let mut zeroed = files(&manifest);
    zeroed
        .weights
        .insert(Role::Clip, vec![clip_giving_zeros(&manifest)]);
    let (_, reference) = on_gpu_with(&gpu, &manifest, zeroed, &request);
    assert_eq!(
        difference(&reference.rgba, &toy_on_gpu.rgba),
        (0, 0),
        "FLUX.1 with CLIP giving zeros"
    );
    // ...while the built-in CLIP's vector changes the image, so the equality
    // above is the missing encoder's zeros and not a vector left unread.
    let (_, with_clip) = on_gpu(&gpu, &request);
    let (worst, differing) = difference(&with_clip.rgba, &toy_on_gpu.rgba);
    println!("with CLIP against without: worst {worst}/255, {differing} channels differ");
    assert!(
        worst > 10 && differing > 1000,
        "CLIP's vector changed nothing"
    );
}
