//! The built-in model's PyTorch training code (xtask/train/models.py) against Sculpt's GPU
//! models: a randomly initialised model of every stage, in the built-in model's structure at
//! reduced widths, with fixed inputs and PyTorch's outputs, all in one fixture written by
//! `xtask/train/export.py parity` (tests/data/builtin-parity.safetensors, 1.5 MB: weights as
//! F16, inputs and outputs as F32, PyTorch computing in f32 with the F16-rounded weights). What
//! this proves: a checkpoint trained with that code, saved under its tensor names, runs in
//! Sculpt's engine as it ran in PyTorch.
//!
//! Tolerance: 1e-4 of the output's largest magnitude, per element, as in the candle comparisons
//! (gpu_flux.rs, gpu_autoencoder.rs, gpu_clip.rs, gpu_t5.rs): both sides compute in f32 and
//! differ by rounding only (summation order, a few ULP in exp/tanh/cos, the online softmax);
//! each run prints its own error. A wrongly read or wrongly wired tensor is orders of
//! magnitude off.
//!
//! Run natively: `XDG_RUNTIME_DIR=/tmp/xdg cargo test -p sculpt-flux --test gpu_builtin_parity`.

#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::{assert_close, gpu, read};
use std::collections::HashMap;

use candle_core::{DType, Device};
use sculpt_flux::models::{
    autoencoder::{AutoEncoderConfig, Decoder, Encoder},
    clip::{ClipTextConfig, ClipTextModel},
    flux1::{FluxConfig, FluxInputs, FluxTransformer, image_ids, text_ids},
    t5::{T5Config, T5Encoder},
};
use sculpt_gpu::Tensor;

type Weights = HashMap<String, (Vec<usize>, Vec<f32>)>;

const TOLERANCE: f32 = 1e-4;
const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/builtin-parity.safetensors"
);

// The fixture's configurations (export.py's PARITY_* dictionaries).
fn flux_config() -> FluxConfig {
    FluxConfig {
        in_channels: 64,
        vec_in_dim: 32,
        context_in_dim: 48,
        hidden_size: 64,
        mlp_ratio: 2.0,
        num_heads: 2,
        double_blocks: 1,
        single_blocks: 2,
        axes_dim: vec![8, 12, 12],
        theta: 10_000.0,
        qkv_bias: true,
        guidance_embed: false,
    }
}

fn ae_config() -> AutoEncoderConfig {
    AutoEncoderConfig {
        in_channels: 3,
        out_channels: 3,
        ch: 32,
        ch_mult: vec![1, 1, 1],
        num_res_blocks: 1,
        z_channels: 4,
        scale_factor: 1.7,
        shift_factor: 0.1,
    }
}

fn clip_config() -> ClipTextConfig {
    ClipTextConfig {
        vocab_size: 64,
        hidden_size: 64,
        intermediate_size: 128,
        num_heads: 2,
        num_layers: 2,
        max_positions: 77,
    }
}

fn t5_config() -> T5Config {
    T5Config {
        vocab_size: 64,
        d_model: 64,
        d_kv: 32,
        num_heads: 2,
        d_ff: 96,
        num_layers: 2,
        relative_attention_num_buckets: 32,
        relative_attention_max_distance: 128,
    }
}

/// Every tensor of the fixture as f32, by name.
fn fixture() -> Weights {
    candle_core::safetensors::load(FIXTURE, &Device::Cpu)
        .expect("the committed fixture loads")
        .into_iter()
        .map(|(name, tensor)| {
            let shape = tensor.dims().to_vec();
            let values = tensor
                .to_dtype(DType::F32)
                .and_then(|t| t.flatten_all())
                .and_then(|t| t.to_vec1::<f32>())
                .unwrap();
            (name, (shape, values))
        })
        .collect()
}

/// The tensors under `prefix`, without it: one model's checkpoint.
fn checkpoint(all: &Weights, prefix: &str) -> Weights {
    all.iter()
        .filter_map(|(name, value)| Some((name.strip_prefix(prefix)?.to_string(), value.clone())))
        .collect()
}

fn values<'a>(all: &'a Weights, name: &str) -> &'a (Vec<usize>, Vec<f32>) {
    all.get(name)
        .unwrap_or_else(|| panic!("fixture lacks {name}"))
}

fn ids(all: &Weights, name: &str) -> Vec<u32> {
    values(all, name).1.iter().map(|&v| v as u32).collect()
}

#[test]
fn transformer_matches_pytorch() {
    let all = fixture();
    let gpu = gpu();
    let config = flux_config();
    let model = pollster::block_on(FluxTransformer::load(
        &gpu,
        config.clone(),
        &mut checkpoint(&all, "flux."),
    ))
    .unwrap();
    let (rows, cols, text_tokens) = (4, 4, 8);
    let positions = model
        .positions(&gpu, &text_ids(text_tokens), &image_ids(rows, cols))
        .unwrap();
    let upload = |name: &str| {
        let (shape, data) = values(&all, name);
        Tensor::from_slice(&gpu, data, shape).unwrap()
    };
    let (img, txt, y) = (
        upload("in.flux.img"),
        upload("in.flux.txt"),
        upload("in.flux.y"),
    );
    let out = model
        .forward(
            &gpu,
            &FluxInputs {
                img: &img,
                txt: &txt,
                positions: &positions,
                timestep: 0.7,
                y: &y,
                guidance: None,
            },
        )
        .unwrap();
    assert_eq!(out.shape(), [rows * cols, config.in_channels]);
    assert_close(
        "transformer",
        &read(&gpu, &out),
        &values(&all, "out.flux").1,
        TOLERANCE,
    );
}

#[test]
fn autoencoder_matches_pytorch() {
    let all = fixture();
    let gpu = gpu();
    let encoder = pollster::block_on(Encoder::load(
        &gpu,
        ae_config(),
        &mut checkpoint(&all, "ae."),
    ))
    .unwrap();
    let decoder = pollster::block_on(Decoder::load(
        &gpu,
        ae_config(),
        &mut checkpoint(&all, "ae."),
    ))
    .unwrap();
    let (shape, image) = values(&all, "in.ae.image");
    let latent = encoder
        .encode(&gpu, &Tensor::from_slice(&gpu, image, shape).unwrap())
        .unwrap();
    assert_close(
        "autoencoder encode",
        &read(&gpu, &latent),
        &values(&all, "out.ae.latent").1,
        TOLERANCE,
    );
    // Decode PyTorch's latent, so that the decoder is checked on its own.
    let (shape, want_latent) = values(&all, "out.ae.latent");
    let decoded = decoder
        .decode(&gpu, &Tensor::from_slice(&gpu, want_latent, shape).unwrap())
        .unwrap();
    assert_close(
        "autoencoder decode",
        &read(&gpu, &decoded),
        &values(&all, "out.ae.decoded").1,
        TOLERANCE,
    );
}

#[test]
fn clip_matches_pytorch() {
    let all = fixture();
    let gpu = gpu();
    let model = pollster::block_on(ClipTextModel::load(
        &gpu,
        clip_config(),
        &mut checkpoint(&all, "clip."),
    ))
    .unwrap();
    let (hidden, pooled) = model.forward(&gpu, &ids(&all, "in.clip.ids")).unwrap();
    assert_close(
        "clip hidden",
        &read(&gpu, &hidden),
        &values(&all, "out.clip.hidden").1,
        TOLERANCE,
    );
    assert_close(
        "clip pooled",
        &read(&gpu, &pooled),
        &values(&all, "out.clip.pooled").1,
        TOLERANCE,
    );
}

#[test]
fn t5_matches_pytorch() {
    let all = fixture();
    let gpu = gpu();
    let model = pollster::block_on(T5Encoder::load(
        &gpu,
        t5_config(),
        &mut checkpoint(&all, "t5."),
    ))
    .unwrap();
    let hidden = model.forward(&gpu, &ids(&all, "in.t5.ids")).unwrap();
    assert_close(
        "t5 hidden",
        &read(&gpu, &hidden),
        &values(&all, "out.t5.hidden").1,
        TOLERANCE,
    );
}
