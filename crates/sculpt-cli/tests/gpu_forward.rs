//! `sculpt forward` against candle-transformers on the CPU: the transformer
//! from a Sculpt config, CLIP from the public transformers config.json with
//! I64 ids, both with the same random weights on each side.
//!
//! Tolerance: 1e-4 of each output's largest magnitude (f32 on both sides,
//! rounding only; see `sculpt-flux`'s model tests for what a bug gives).

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use candle_core::{Device, Tensor};
use candle_transformers::models::{clip::text_model as clip_ref, flux};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sculpt_flux::checkpoint::{clip_layout, flux_layout};
use sculpt_flux::formats::{
    Dtype, Encoding, MemorySource, TensorToWrite, read_safetensors, read_tensor_bytes,
    safetensors_bytes,
};
use sculpt_flux::models::clip::ClipTextConfig;
use sculpt_flux::models::flux1::{FluxConfig, image_ids, text_ids};

use common::{TempDir, random_weights, var_builder, write_safetensors};

const TOLERANCE: f32 = 1e-4;

fn write_inputs(path: &Path, tensors: &[(&str, Vec<u64>, Dtype, Vec<u8>)]) {
    let to_write: Vec<TensorToWrite> = tensors
        .iter()
        .map(|(name, shape, dtype, bytes)| TensorToWrite {
            name,
            shape,
            encoding: Encoding::Plain(*dtype),
            bytes,
        })
        .collect();
    std::fs::write(
        path,
        safetensors_bytes(&to_write, &BTreeMap::new()).unwrap(),
    )
    .unwrap();
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// The outputs file's tensors: name → (shape, values).
fn read_outputs(path: &Path) -> BTreeMap<String, (Vec<u64>, Vec<f32>)> {
    let mut source = MemorySource::new("out", std::fs::read(path).unwrap());
    let file = pollster::block_on(read_safetensors(&mut source)).unwrap();
    file.index
        .tensors()
        .iter()
        .map(|info| {
            let bytes = pollster::block_on(read_tensor_bytes(&mut source, info)).unwrap();
            let values = bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            (info.name.clone(), (info.shape.clone(), values))
        })
        .collect()
}

fn scaled_error(got: &[f32], want: &[f32]) -> f32 {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(0f32, |m, w| m.max(w.abs()));
    got.iter()
        .zip(want)
        .fold(0f32, |m, (g, w)| m.max((g - w).abs()))
        / scale
}

fn sculpt(args: &[&std::ffi::OsStr]) {
    let output = Command::new(env!("CARGO_BIN_EXE_sculpt"))
        .arg("forward")
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn random(rng: &mut ChaCha8Rng, len: usize) -> Vec<f32> {
    (0..len).map(|_| rng.random_range(-1.0..=1.0)).collect()
}

#[test]
fn the_transformer_stage_matches_candle() {
    transformer_stage_matches_candle("forward-dit", FluxConfig::tiny(true));
}

/// Heads narrower than the attention kernel's 32-dimension parts.
#[test]
fn a_transformer_with_16_wide_heads_matches_candle() {
    let config = FluxConfig {
        num_heads: 8,
        axes_dim: vec![4, 6, 6],
        ..FluxConfig::tiny(true)
    };
    assert_eq!(config.head_dim(), 16);
    transformer_stage_matches_candle("forward-dit-16", config);
}

fn transformer_stage_matches_candle(dir: &str, config: FluxConfig) {
    let dir = TempDir::new(dir);
    let weights = random_weights(flux_layout(&config), 11);
    let path = |name: &str| dir.0.join(name);
    write_safetensors(&path("dit.safetensors"), &weights);
    std::fs::write(path("config.json"), serde_json::to_string(&config).unwrap()).unwrap();

    let (rows, cols, text) = (3, 4, 5);
    let tokens = rows * cols;
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let img = random(&mut rng, tokens * config.in_channels);
    let txt = random(&mut rng, text * config.context_in_dim);
    let y = random(&mut rng, config.vec_in_dim);
    let (t, guidance) = (0.6f32, 3.5f32);
    let (img_ids, txt_ids) = (image_ids(rows, cols), text_ids(text));
    let u = |n: usize| n as u64;
    write_inputs(
        &path("in.safetensors"),
        &[
            (
                "img",
                vec![1, u(tokens), u(config.in_channels)],
                Dtype::F32,
                f32_bytes(&img),
            ),
            (
                "txt",
                vec![1, u(text), u(config.context_in_dim)],
                Dtype::F32,
                f32_bytes(&txt),
            ),
            (
                "y",
                vec![1, u(config.vec_in_dim)],
                Dtype::F32,
                f32_bytes(&y),
            ),
            ("t", vec![1], Dtype::F32, f32_bytes(&[t])),
            ("guidance", vec![1], Dtype::F32, f32_bytes(&[guidance])),
            (
                "img_ids",
                vec![u(tokens), 3],
                Dtype::F32,
                f32_bytes(&img_ids),
            ),
            ("txt_ids", vec![u(text), 3], Dtype::F32, f32_bytes(&txt_ids)),
        ],
    );
    sculpt(&[
        "--stage".as_ref(),
        "dit".as_ref(),
        "--weights".as_ref(),
        path("dit.safetensors").as_os_str(),
        "--config".as_ref(),
        path("config.json").as_os_str(),
        "--inputs".as_ref(),
        path("in.safetensors").as_os_str(),
        "--out".as_ref(),
        path("out.safetensors").as_os_str(),
    ]);
    let outputs = read_outputs(&path("out.safetensors"));
    let (shape, got) = &outputs["out"];
    assert_eq!(shape, &[1, u(tokens), u(config.in_channels)]);

    let cpu = Device::Cpu;
    let model = flux::model::Flux::new(
        &flux::model::Config {
            in_channels: config.in_channels,
            vec_in_dim: config.vec_in_dim,
            context_in_dim: config.context_in_dim,
            hidden_size: config.hidden_size,
            mlp_ratio: config.mlp_ratio,
            num_heads: config.num_heads,
            depth: config.double_blocks,
            depth_single_blocks: config.single_blocks,
            axes_dim: config.axes_dim.clone(),
            theta: config.theta as usize,
            qkv_bias: config.qkv_bias,
            guidance_embed: config.guidance_embed,
        },
        var_builder(&weights),
    )
    .unwrap();
    let tensor = |values: &[f32], shape: &[usize]| Tensor::from_slice(values, shape, &cpu).unwrap();
    let want = flux::WithForward::forward(
        &model,
        &tensor(&img, &[1, tokens, config.in_channels]),
        &tensor(&img_ids, &[1, tokens, 3]),
        &tensor(&txt, &[1, text, config.context_in_dim]),
        &tensor(&txt_ids, &[1, text, 3]),
        &tensor(&[t], &[1]),
        &tensor(&y, &[1, config.vec_in_dim]),
        Some(&tensor(&[guidance], &[1])),
    )
    .unwrap();
    let want: Vec<f32> = want.flatten_all().unwrap().to_vec1().unwrap();
    let error = scaled_error(got, &want);
    assert!(
        error <= TOLERANCE,
        "worst error {error:e} of the output's scale"
    );
}

#[test]
fn the_clip_stage_reads_a_public_config_and_i64_ids_and_matches_candle() {
    clip_stage_matches_candle("forward-clip", ClipTextConfig::tiny());
}

/// Heads a quarter of the attention kernel's 32-dimension parts.
#[test]
fn a_clip_with_8_wide_heads_matches_candle() {
    let config = ClipTextConfig {
        num_heads: 8,
        ..ClipTextConfig::tiny()
    };
    assert_eq!(config.head_dim(), 8);
    clip_stage_matches_candle("forward-clip-8", config);
}

fn clip_stage_matches_candle(dir: &str, config: ClipTextConfig) {
    let dir = TempDir::new(dir);
    let weights = random_weights(clip_layout(&config), 13);
    let path = |name: &str| dir.0.join(name);
    write_safetensors(&path("clip.safetensors"), &weights);
    // transformers' CLIPTextConfig, with fields Sculpt does not use.
    let public = serde_json::json!({
        "architectures": ["CLIPTextModel"],
        "vocab_size": config.vocab_size,
        "hidden_size": config.hidden_size,
        "intermediate_size": config.intermediate_size,
        "num_attention_heads": config.num_heads,
        "num_hidden_layers": config.num_layers,
        "max_position_embeddings": config.max_positions,
        "hidden_act": "quick_gelu",
        "projection_dim": 768
    });
    std::fs::write(path("config.json"), public.to_string()).unwrap();
    // Start, words, end of text (the largest id), padding with it.
    let mut ids: Vec<i64> = vec![998, 5, 17, 400, 999];
    ids.resize(12, 999);
    write_inputs(
        &path("in.safetensors"),
        &[(
            "ids",
            vec![1, ids.len() as u64],
            Dtype::I64,
            ids.iter().flat_map(|id| id.to_le_bytes()).collect(),
        )],
    );
    sculpt(&[
        "--stage".as_ref(),
        "clip".as_ref(),
        "--weights".as_ref(),
        path("clip.safetensors").as_os_str(),
        "--config".as_ref(),
        path("config.json").as_os_str(),
        "--inputs".as_ref(),
        path("in.safetensors").as_os_str(),
        "--out".as_ref(),
        path("out.safetensors").as_os_str(),
    ]);
    let outputs = read_outputs(&path("out.safetensors"));

    let model = clip_ref::ClipTextTransformer::new(
        var_builder(&weights).pp("text_model"),
        &clip_ref::ClipTextConfig {
            vocab_size: config.vocab_size,
            embed_dim: config.hidden_size,
            activation: clip_ref::Activation::QuickGelu,
            intermediate_size: config.intermediate_size,
            max_position_embeddings: config.max_positions,
            pad_with: None,
            num_hidden_layers: config.num_layers,
            num_attention_heads: config.num_heads,
            projection_dim: config.hidden_size,
        },
    )
    .unwrap();
    let ids: Vec<u32> = ids.iter().map(|&id| id as u32).collect();
    let ids = Tensor::from_slice(&ids, (1, ids.len()), &Device::Cpu).unwrap();
    let flat = |t: Tensor| -> Vec<f32> { t.flatten_all().unwrap().to_vec1().unwrap() };
    let hidden = flat(model.forward_with_mask(&ids, usize::MAX).unwrap());
    let pooled = flat(candle_core::Module::forward(&model, &ids).unwrap());
    assert_eq!(outputs["hidden"].0, [1, 12, config.hidden_size as u64]);
    assert_eq!(outputs["pooled"].0, [1, config.hidden_size as u64]);
    for (name, want) in [("hidden", hidden), ("pooled", pooled)] {
        let error = scaled_error(&outputs[name].1, &want);
        assert!(
            error <= TOLERANCE,
            "{name}: worst error {error:e} of the output's scale"
        );
    }
}

#[test]
fn help_documents_the_tensor_names() {
    let output = Command::new(env!("CARGO_BIN_EXE_sculpt"))
        .args(["forward", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    for name in [
        "img_ids",
        "latent_mean",
        "pooled",
        "ae-encode",
        "guidance [1]",
    ] {
        assert!(help.contains(name), "{help}");
    }
}
