//! `sculpt generate --cpu` on the built-in model, without a GPU: the PNG
//! records how it was made, the same seed gives the same bytes, and the
//! built-in model's final image equals the GPU's (checked pixel by pixel in
//! sculpt-flux's `tests/gpu_cpu_parity.rs`), here only that the CPU's image
//! differs with the seed. A model without a manifest is refused by name.
//!
//! Run: `cargo test -p sculpt-cli --test cpu_generate`.

mod common;

use std::process::{Command, Output};

use common::{TempDir, built_in_model};
use sculpt_flux::pipeline::Manifest;

fn generate(dir: &TempDir, name: &str, seed: &str, model: &[String]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sculpt"));
    command.args([
        "generate",
        "--cpu",
        "--prompt",
        "a red circle on a blue background",
    ]);
    command.args(["--steps", "3", "--seed", seed, "--out"]);
    command.arg(dir.0.join(name));
    if !model.is_empty() {
        command.arg("--model").args(model);
    }
    command.output().unwrap()
}

fn png_text_and_pixels(path: &std::path::Path) -> (Vec<(String, String)>, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    reader.next_frame(&mut pixels).unwrap();
    let text = reader
        .info()
        .uncompressed_latin1_text
        .iter()
        .map(|chunk| (chunk.keyword.clone(), chunk.text.clone()))
        .collect();
    (text, pixels)
}

#[test]
fn cpu_generation_is_seeded_and_says_how_it_was_made() {
    let dir = TempDir::new("cpu-generate");
    for (name, seed) in [("a.png", "4"), ("b.png", "4"), ("c.png", "5")] {
        let output = generate(&dir, name, seed, &[]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let (text, a) = png_text_and_pixels(&dir.0.join("a.png"));
    let value = |key: &str| text.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    assert_eq!(value("model"), Some("sculpt-tiny"));
    assert_eq!(value("seed"), Some("4"));
    assert_eq!(value("steps"), Some("3"));
    // The built-in model's own guidance scale, as its manifest gives it.
    let manifest_path = built_in_model().join("manifest.json");
    let manifest =
        Manifest::from_json("manifest.json", &std::fs::read(manifest_path).unwrap()).unwrap();
    let cfg = manifest.cfg_scale.expect("the built-in model uses CFG");
    assert_eq!(value("cfg"), Some(cfg.to_string().as_str()));
    assert_eq!(a.len(), 64 * 64 * 4);
    let (_, b) = png_text_and_pixels(&dir.0.join("b.png"));
    let (_, c) = png_text_and_pixels(&dir.0.join("c.png"));
    assert_eq!(a, b, "the same seed twice");
    let differing = a.iter().zip(&c).filter(|(x, y)| x != y).count();
    assert!(differing > a.len() / 4, "{differing} channels differ");
}

#[test]
fn cpu_refuses_models_without_a_manifest() {
    let dir = TempDir::new("cpu-no-manifest");
    // The built-in model's files without its manifest: an imported model.
    let files: Vec<String> = [
        "transformer.gguf",
        "autoencoder.safetensors",
        "clip.safetensors",
        "t5.safetensors",
        "clip-tokenizer.json",
        "t5-tokenizer.json",
    ]
    .iter()
    .map(|file| built_in_model().join(file).to_string_lossy().into_owned())
    .collect();
    let output = generate(&dir, "out.png", "1", &files);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("--cpu runs models described by a manifest.json"),
        "{stderr}"
    );
}
