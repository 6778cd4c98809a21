//! Bad input through the binary: each problem has its own message naming
//! what is wrong (and the file, for files), and nothing panics.

mod common;

use std::path::Path;
use std::process::Command;

use sculpt_flux::pipeline::Manifest;

use common::tiny_model::*;
use common::write_safetensors;

/// Runs `sculpt args…`, which must fail with `expected` in its message.
fn fails_with(args: &[&std::ffi::OsStr], expected: &[&str]) {
    let output = Command::new(env!("CARGO_BIN_EXE_sculpt"))
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "accepted: {args:?}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for part in expected {
        assert!(stderr.contains(part), "expected {part:?} in:\n{stderr}");
    }
}

fn inspect_fails_with(path: &Path, expected: &[&str]) {
    fails_with(&["inspect".as_ref(), path.as_os_str()], expected);
}

/// A generation request on the tiny model with these extra arguments.
fn generate_fails_with(model: &Model, extra: &[&str], expected: &[&str]) {
    let manifest = model.dir.0.join("manifest.json");
    let out = model.dir.0.join("out.png");
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "generate".as_ref(),
        "--model".as_ref(),
        manifest.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ];
    if !extra.contains(&"--prompt") {
        args.extend([
            std::ffi::OsStr::new("--prompt"),
            std::ffi::OsStr::new("a cat"),
        ]);
    }
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    fails_with(&args, expected);
}

/// Rewrites one file of the tiny model and its manifest entry.
fn replace_file(model: &Model, name: &str, weights: &common::Weights) {
    let dir = &model.dir.0;
    write_safetensors(&dir.join(name), weights);
    let path = dir.join("manifest.json");
    let mut manifest =
        Manifest::from_json("manifest.json", &std::fs::read(&path).unwrap()).unwrap();
    let entry = manifest_file(dir, name);
    for slot in manifest.files.values_mut() {
        if slot.path == name {
            *slot = entry.clone();
        }
    }
    std::fs::write(path, manifest.to_json()).unwrap();
}

#[test]
fn a_truncated_file() {
    let model = write_model(&configs(SCHNELL), SCHNELL, "bad-truncated");
    let bytes = std::fs::read(model.dir.0.join("transformer.safetensors")).unwrap();
    let path = model.dir.0.join("cut.safetensors");
    std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
    inspect_fails_with(&path, &["cut.safetensors: ", "past the", "data section"]);
}

#[test]
fn a_gguf_without_its_magic() {
    let dir = common::TempDir::new("bad-magic");
    let path = dir.0.join("model.gguf");
    let mut bytes = b"GGML".to_vec();
    bytes.extend_from_slice(&[3, 0, 0, 0]);
    bytes.resize(64, 0);
    std::fs::write(&path, bytes).unwrap();
    inspect_fails_with(
        &path,
        &["model.gguf: ", "does not start with the GGUF magic"],
    );
}

#[test]
fn an_unknown_quantization_type() {
    // One Q2_K tensor (ggml type 10: 256 values in 84 bytes), which the
    // kernels do not decode.
    let dir = common::TempDir::new("bad-quant");
    let path = dir.0.join("q2k.gguf");
    let mut bytes = b"GGUF".to_vec();
    bytes.extend_from_slice(&3u32.to_le_bytes());
    bytes.extend_from_slice(&1u64.to_le_bytes()); // tensors
    bytes.extend_from_slice(&0u64.to_le_bytes()); // metadata
    let name = b"img_in.weight";
    bytes.extend_from_slice(&(name.len() as u64).to_le_bytes());
    bytes.extend_from_slice(name);
    bytes.extend_from_slice(&2u32.to_le_bytes());
    bytes.extend_from_slice(&256u64.to_le_bytes());
    bytes.extend_from_slice(&1u64.to_le_bytes());
    bytes.extend_from_slice(&10u32.to_le_bytes());
    bytes.extend_from_slice(&0u64.to_le_bytes());
    bytes.resize(bytes.len().next_multiple_of(32) + 84, 0);
    std::fs::write(&path, bytes).unwrap();
    inspect_fails_with(&path, &["q2k.gguf: ", "'img_in.weight'", "ggml type 10"]);
}

#[test]
fn a_tensor_of_the_wrong_shape() {
    let configs = configs(SCHNELL);
    let model = write_model(&configs, SCHNELL, "bad-shape");
    let mut weights = model.transformer.clone();
    weights.insert("final_layer.linear.bias".into(), (vec![32], vec![0.0; 32]));
    replace_file(&model, "transformer.safetensors", &weights);
    generate_fails_with(
        &model,
        &[],
        &[
            "transformer.safetensors: ",
            "tensor 'final_layer.linear.bias' is [32] where [64] belongs",
        ],
    );
}

#[test]
fn a_nan_in_the_weights() {
    let configs = configs(SCHNELL);
    let model = write_model(&configs, SCHNELL, "bad-nan");
    let mut weights = model.clip.clone();
    let name = "text_model.final_layer_norm.weight";
    weights.get_mut(name).unwrap().1[3] = f32::NAN;
    replace_file(&model, "clip.safetensors", &weights);
    generate_fails_with(
        &model,
        &[],
        &[
            "clip.safetensors",
            &format!("'{name}' holds NaN at element 3"),
        ],
    );
}

#[test]
fn a_size_that_is_not_a_multiple_of_16() {
    let model = write_model(&configs(SCHNELL), SCHNELL, "bad-size");
    generate_fails_with(&model, &["--width", "72"], &["72x48", "multiples of 16"]);
    generate_fails_with(&model, &["--height", "50"], &["64x50", "multiples of 16"]);
}

#[test]
fn an_empty_prompt() {
    let model = write_model(&configs(SCHNELL), SCHNELL, "bad-prompt");
    generate_fails_with(&model, &["--prompt", ""], &["the prompt is empty"]);
}
