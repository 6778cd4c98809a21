//! The CPU fallback against the GPU pipeline on the shipped built-in model:
//! the same request (4 steps, the manifest's true CFG 3.0) gives the same
//! pixels, for the final image, a preview of the predicted clean image, and
//! an image-to-image start; and the same for an autoencoder that
//! downsamples 4× instead of 8×.
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

use sculpt_flux::checkpoint::autoencoder_layout;
use sculpt_flux::flux::autoencoder::AutoEncoderConfig;
use sculpt_flux::generation::{Frame, Pipeline, Show};
use sculpt_flux::pipeline::{GenerateRequest, ImageStart, InitImage, Manifest, ModelFiles};
use sculpt_gpu::Gpu;

use built_in::{Source, difference, files, manifest, open_cpu, open_gpu};
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
    manifest.config.autoencoder = AutoEncoderConfig {
        ch_mult: vec![1, 2, 2],
        ..manifest.config.autoencoder.clone()
    };
    assert_eq!(manifest.config.autoencoder.pixels_per_latent(), 4);
    let files = || ModelFiles {
        autoencoder: vec![random_safetensors(
            "autoencoder-4x.safetensors",
            autoencoder_layout(&manifest.config.autoencoder),
            3,
        )],
        ..files(&manifest)
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
