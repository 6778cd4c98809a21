//! The FLUX transformer on WebGPU in headless Chromium, against PyTorch: the
//! transformer part of the built-in model's parity fixture
//! (tests/data/builtin-parity.safetensors, written by
//! `xtask/train/export.py parity`; see gpu_builtin_parity.rs, which checks
//! every stage natively). The weights are F16 in the fixture, PyTorch
//! computed in f32 with those F16-rounded weights, so both sides differ by
//! rounding only: tolerance 1e-4 of the output's largest magnitude.
//!
//! `cargo xtask test --only wasm` runs it.
#![cfg(target_arch = "wasm32")]

use std::collections::HashMap;

use sculpt_flux::{
    formats::{Dtype, Encoding, MemorySource, read_safetensors, read_tensor_bytes},
    models::flux1::{FluxConfig, FluxInputs, FluxTransformer, image_ids, text_ids},
};
use sculpt_gpu::{Gpu, Tensor};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

const FIXTURE: &[u8] = include_bytes!("data/builtin-parity.safetensors");
const TOLERANCE: f32 = 1e-4;

type Weights = HashMap<String, (Vec<usize>, Vec<f32>)>;

/// The fixture's transformer configuration (export.py's PARITY_FLUX).
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

/// Every F16 or F32 tensor of the fixture as f32, by name.
async fn fixture() -> Weights {
    let mut source = MemorySource::new("builtin-parity.safetensors", FIXTURE);
    let file = read_safetensors(&mut source).await.unwrap();
    let mut weights = Weights::new();
    for info in file.index.tensors() {
        let bytes = read_tensor_bytes(&mut source, info).await.unwrap();
        let values: Vec<f32> = match info.encoding {
            Encoding::Plain(Dtype::F32) => bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Encoding::Plain(Dtype::F16) => bytes
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            _ => continue,
        };
        let shape = info.shape.iter().map(|&d| d as usize).collect();
        weights.insert(info.name.clone(), (shape, values));
    }
    weights
}

#[wasm_bindgen_test]
async fn transformer_matches_pytorch_in_the_browser() {
    let all = fixture().await;
    let gpu = Gpu::new().await.expect("WebGPU in headless Chromium");
    let config = flux_config();
    let mut checkpoint: Weights = all
        .iter()
        .filter_map(|(name, value)| Some((name.strip_prefix("flux.")?.to_string(), value.clone())))
        .collect();
    let model = FluxTransformer::load(&gpu, config.clone(), &mut checkpoint)
        .await
        .unwrap();
    let (rows, cols, text_tokens) = (4, 4, 8);
    let positions = model
        .positions(&gpu, &text_ids(text_tokens), &image_ids(rows, cols))
        .unwrap();
    let upload = |name: &str| {
        let (shape, data) = &all[name];
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
    let got = out.to_vec(&gpu).await.unwrap();
    let want = &all["out.flux"].1;
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(0f32, |m, w| m.max(w.abs()));
    let worst = got
        .iter()
        .zip(want)
        .fold(0f32, |m, (g, w)| m.max((g - w).abs()));
    assert!(got.iter().all(|g| g.is_finite()), "non-finite output");
    assert!(
        worst / scale <= TOLERANCE,
        "worst error {:e} of the output's scale exceeds {TOLERANCE:e}",
        worst / scale
    );
}
