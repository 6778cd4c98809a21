//! The shipped preview decoder (models/sculpt-tiny/preview.safetensors) against the full
//! autoencoder on the eval's own procedural prompts (held out from the fit), over the last
//! quarter of the steps, where a preview stands in for the image the user is about to get:
//! PSNR of the preview against the full decode of the same latent, both as the engine draws them
//! (RGBA8), at least 20 dB on average. `sculpt-eval --fit-preview` prints the same figure over 20
//! prompts when it refits.
//!
//! Run alone: `cargo test -p sculpt-eval --test preview_quality -- --nocapture`.

use sculpt_eval::generator::{PipelineGenerator, builtin_manifest};
use sculpt_eval::{preview, prompts};
use sculpt_flux::models::preview::PreviewDecoder;

const PROMPTS: usize = 20;
const STEPS: usize = 20;
const MIN_MEAN_PSNR: f64 = 20.0;

#[test]
fn the_shipped_preview_is_within_20_db_of_the_full_decode_late_in_a_run() {
    let manifest = builtin_manifest();
    let bytes = std::fs::read(manifest.with_file_name("preview.safetensors")).unwrap();
    let shipped = pollster::block_on(PreviewDecoder::from_safetensors(
        "preview.safetensors",
        &bytes,
    ))
    .unwrap();
    let mut generator = PipelineGenerator::open_cpu(&manifest).unwrap();
    let texts: Vec<String> = prompts::procedural(PROMPTS, 0)
        .into_iter()
        .map(|p| p.text)
        .collect();
    let from = STEPS - STEPS / 4;
    let (size, pairs) =
        preview::collect(generator.pipeline_mut(), &texts, 0, STEPS, from, false).unwrap();
    assert_eq!(pairs.len(), PROMPTS * STEPS / 4);
    let fidelity = preview::measure(&shipped, size, &pairs);
    println!("{fidelity:?}");
    assert!(
        fidelity.mean_psnr >= MIN_MEAN_PSNR,
        "the preview's frames average {:.2} dB against the full decode, below {MIN_MEAN_PSNR}",
        fidelity.mean_psnr
    );
    // The linear projection alone (FLUX.1's factors) is no stand-in for this model's latents:
    // the measure tells a fitted preview from an unfitted one.
    let unfitted = preview::measure(&PreviewDecoder::flux1(), size, &pairs);
    assert!(
        unfitted.mean_psnr < fidelity.mean_psnr - 3.0,
        "{unfitted:?}"
    );
}
