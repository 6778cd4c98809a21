//! The shipped built-in model (models/sculpt-tiny): its manifest, its tokenizers, and, on the
//! GPU, every stage's output against the trained PyTorch model's own outputs, which
//! `xtask/train/export.py ship` wrote to tests/data/builtin-reference.safetensors.
//!
//! Tolerances: the text encoders and the autoencoder ship in F32, so they match PyTorch to
//! rounding (1e-4 of the output's scale, as in the candle comparisons). The transformer ships as
//! Q8_0 and PyTorch ran the f32 master, so its velocity differs by the quantization error; the
//! run prints the measured figure (the quality cost of Q8_0) and the bound, 5e-2 of the output's
//! scale, only catches a broken file or loader.
//!
//! `SCULPT_TINY_DIR` and `SCULPT_TINY_REFERENCE` point the test at another model (e.g. a
//! training run's export) and reference.
//!
//! Run natively: `XDG_RUNTIME_DIR=/tmp/xdg cargo test -p sculpt-flux --test builtin_model`.

#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::{assert_close, gpu, read};
use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{DType, Device};
use sculpt_flux::{
    formats::{Dtype, Encoding, FileSource, read_gguf, read_tensor_bytes},
    models::autoencoder::{AutoEncoderConfig, Decoder, Encoder},
    models::clip::{ClipTextConfig, ClipTextModel},
    models::flux1::{
        FluxConfig, FluxInputs, FluxTransformer, SourceError, SourceTensor, TensorData, image_ids,
        text_ids,
    },
    models::t5::{T5Config, T5Encoder},
    text::{CLIP_CONTEXT_LENGTH, ClipTokenizer, T5Tokenizer},
};
use sculpt_gpu::{Tensor, weights::repack};
use serde_json::Value;

type Weights = HashMap<String, (Vec<usize>, Vec<f32>)>;

const F32_TOLERANCE: f32 = 1e-4;
const Q8_TOLERANCE: f32 = 5e-2;

fn model_dir() -> PathBuf {
    std::env::var_os("SCULPT_TINY_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/sculpt-tiny"),
        PathBuf::from,
    )
}

fn reference_path() -> PathBuf {
    std::env::var_os("SCULPT_TINY_REFERENCE").map_or_else(
        || {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("tests/data/builtin-reference.safetensors")
        },
        PathBuf::from,
    )
}

fn manifest() -> Value {
    let text = std::fs::read_to_string(model_dir().join("manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn file(manifest: &Value, key: &str) -> PathBuf {
    model_dir().join(manifest["files"][key]["path"].as_str().unwrap())
}

fn usize_of(v: &Value) -> usize {
    v.as_u64().unwrap() as usize
}

fn configs(m: &Value) -> (FluxConfig, AutoEncoderConfig, ClipTextConfig, T5Config) {
    let c = &m["config"];
    let (t, a, l, f) = (&c["transformer"], &c["autoencoder"], &c["clip"], &c["t5"]);
    let list = |v: &Value| {
        v.as_array()
            .unwrap()
            .iter()
            .map(usize_of)
            .collect::<Vec<_>>()
    };
    (
        FluxConfig {
            in_channels: usize_of(&t["in_channels"]),
            vec_in_dim: usize_of(&t["vec_in_dim"]),
            context_in_dim: usize_of(&t["context_in_dim"]),
            hidden_size: usize_of(&t["hidden_size"]),
            mlp_ratio: t["mlp_ratio"].as_f64().unwrap(),
            num_heads: usize_of(&t["num_heads"]),
            double_blocks: usize_of(&t["double_blocks"]),
            single_blocks: usize_of(&t["single_blocks"]),
            axes_dim: list(&t["axes_dim"]),
            theta: t["theta"].as_f64().unwrap(),
            qkv_bias: t["qkv_bias"].as_bool().unwrap(),
            guidance_embed: t["guidance_embed"].as_bool().unwrap(),
        },
        AutoEncoderConfig {
            in_channels: usize_of(&a["in_channels"]),
            out_channels: usize_of(&a["out_channels"]),
            ch: usize_of(&a["ch"]),
            ch_mult: list(&a["ch_mult"]),
            num_res_blocks: usize_of(&a["num_res_blocks"]),
            z_channels: usize_of(&a["z_channels"]),
            scale_factor: a["scale_factor"].as_f64().unwrap() as f32,
            shift_factor: a["shift_factor"].as_f64().unwrap() as f32,
        },
        ClipTextConfig {
            vocab_size: usize_of(&l["vocab_size"]),
            hidden_size: usize_of(&l["hidden_size"]),
            intermediate_size: usize_of(&l["intermediate_size"]),
            num_heads: usize_of(&l["num_heads"]),
            num_layers: usize_of(&l["num_layers"]),
            max_positions: usize_of(&l["max_positions"]),
        },
        T5Config {
            vocab_size: usize_of(&f["vocab_size"]),
            d_model: usize_of(&f["d_model"]),
            d_kv: usize_of(&f["d_kv"]),
            num_heads: usize_of(&f["num_heads"]),
            d_ff: usize_of(&f["d_ff"]),
            num_layers: usize_of(&f["num_layers"]),
            relative_attention_num_buckets: usize_of(&f["relative_attention_num_buckets"]),
            relative_attention_max_distance: usize_of(&f["relative_attention_max_distance"]),
        },
    )
}

fn tokenizers(m: &Value) -> (ClipTokenizer, T5Tokenizer) {
    let clip =
        ClipTokenizer::from_json(&std::fs::read(file(m, "clip_tokenizer")).unwrap()).unwrap();
    let t5 = T5Tokenizer::from_json(&std::fs::read(file(m, "t5_tokenizer")).unwrap()).unwrap();
    (clip, t5)
}

/// Every tensor of a safetensors file as f32, by name.
fn safetensors_f32(path: &PathBuf) -> Weights {
    candle_core::safetensors::load(path, &Device::Cpu)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
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

/// The shipped GGUF transformer: Q8_0 matrices repacked for the GPU, F32 tensors as values.
fn gguf_source(path: &PathBuf) -> HashMap<String, SourceTensor> {
    let mut source =
        FileSource::new(std::fs::File::open(path).unwrap(), "transformer.gguf").unwrap();
    let gguf = pollster::block_on(read_gguf(&mut source)).unwrap();
    let mut out = HashMap::new();
    for info in gguf.index.tensors() {
        let bytes = pollster::block_on(read_tensor_bytes(&mut source, info)).unwrap();
        let shape: Vec<usize> = info.shape.iter().map(|&d| d as usize).collect();
        let data = match info.encoding {
            Encoding::Plain(Dtype::F32) => TensorData::F32(
                bytes
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect(),
            ),
            Encoding::Quantized(format) => {
                TensorData::Packed(repack(format, shape[0], shape[1], &bytes).unwrap())
            }
            other => panic!("{}: unexpected encoding {other}", info.name),
        };
        out.insert(info.name.clone(), SourceTensor { shape, data });
    }
    out
}

#[test]
fn manifest_lists_files_of_the_stated_sizes_within_20_mb() {
    let m = manifest();
    assert_eq!(m["name"], "sculpt-tiny");
    assert_eq!(m["resolution"], serde_json::json!([64, 64]));
    let mut total = std::fs::metadata(model_dir().join("manifest.json"))
        .unwrap()
        .len();
    for key in [
        "transformer",
        "autoencoder",
        "clip",
        "t5",
        "clip_tokenizer",
        "t5_tokenizer",
    ] {
        let bytes = std::fs::metadata(file(&m, key)).unwrap().len();
        assert_eq!(bytes, m["files"][key]["bytes"].as_u64().unwrap(), "{key}");
        total += bytes;
    }
    assert!(total <= 20_000_000, "{total} bytes");
    let (flux, ae, clip, t5) = configs(&m);
    flux.validate().unwrap();
    ae.validate().unwrap();
    t5.validate().unwrap();
    assert_eq!(flux.vec_in_dim, clip.hidden_size);
    assert_eq!(flux.context_in_dim, t5.d_model);
    assert_eq!(flux.in_channels, ae.z_channels * 4);
    assert_eq!(clip.max_positions, CLIP_CONTEXT_LENGTH);
}

#[test]
fn shipped_tokenizers_load_and_tokenize_a_caption() {
    let m = manifest();
    let (clip, t5) = tokenizers(&m);
    let (_, _, clip_config, t5_config) = configs(&m);
    let length = usize_of(&m["t5_length"]);
    let caption = "small yellow star, bottom right, on black";
    let clip_tokens = clip.encode(caption).unwrap();
    assert_eq!(clip_tokens.ids.len(), CLIP_CONTEXT_LENGTH);
    // Pooling reads argmax(ids): the end of text must be the highest id, so the first one.
    assert_eq!(clip.end_of_text_id() as usize, clip_config.vocab_size - 1);
    assert_eq!(clip_tokens.eos_index, clip_tokens.real_tokens - 1);
    assert!(
        clip_tokens
            .ids
            .iter()
            .all(|&id| (id as usize) < clip_config.vocab_size)
    );
    // Every word of the caption is in the vocabulary whole: "</w>"-suffixed single tokens.
    assert_eq!(clip_tokens.real_tokens, 2 + 9, "{:?}", clip_tokens.ids);
    let t5_tokens = t5.encode(caption, length).unwrap();
    assert_eq!((t5.pad_id(), t5.end_of_sequence_id()), (0, 1));
    assert_eq!(t5_tokens.ids.len(), length);
    assert!(t5_tokens.truncation.is_none());
    assert!(
        !t5_tokens.ids.contains(&2),
        "no <unk> in {:?}",
        t5_tokens.ids
    );
    assert!(
        t5_tokens
            .ids
            .iter()
            .all(|&id| (id as usize) < t5_config.vocab_size)
    );
    // An emoji name with a character outside the captions still tokenizes (bytes / <unk>).
    clip.encode("an orange fire dragon ☃").unwrap();
    t5.encode("an orange fire dragon ☃", length).unwrap();
}

#[test]
fn shipped_model_matches_the_trained_pytorch_model() {
    let m = manifest();
    let (flux_config, ae_config, clip_config, t5_config) = configs(&m);
    let (clip_tok, t5_tok) = tokenizers(&m);
    let reference = safetensors_f32(&reference_path());
    let want = |name: &str| &reference[name].1;
    let t5_length = usize_of(&m["t5_length"]);
    // The prompt export.py used; Sculpt's tokenizers give PyTorch's ids.
    let prompt = "a red circle on a blue background";
    let clip_ids = clip_tok.encode(prompt).unwrap().ids;
    let t5_ids = t5_tok.encode(prompt, t5_length).unwrap().ids;
    let as_u32 = |v: &Vec<f32>| v.iter().map(|&x| x as u32).collect::<Vec<_>>();
    assert_eq!(clip_ids, as_u32(want("prompt_clip_ids")));
    assert_eq!(t5_ids, as_u32(want("prompt_t5_ids")));

    let gpu = gpu();
    let clip = pollster::block_on(ClipTextModel::load(
        &gpu,
        clip_config,
        &mut safetensors_f32(&file(&m, "clip")),
    ))
    .unwrap();
    let (_, pooled) = clip.forward(&gpu, &clip_ids).unwrap();
    assert_close(
        "clip pooled",
        &read(&gpu, &pooled),
        want("clip_pooled"),
        F32_TOLERANCE,
    );
    let t5 = pollster::block_on(T5Encoder::load(
        &gpu,
        t5_config,
        &mut safetensors_f32(&file(&m, "t5")),
    ))
    .unwrap();
    let txt = t5.forward(&gpu, &t5_ids).unwrap();
    assert_close(
        "t5 hidden",
        &read(&gpu, &txt),
        want("t5_hidden"),
        F32_TOLERANCE,
    );

    let mut tensors = gguf_source(&file(&m, "transformer"));
    let mut source =
        |name: &str| -> Result<Option<SourceTensor>, SourceError> { Ok(tensors.remove(name)) };
    let flux = pollster::block_on(FluxTransformer::load(
        &gpu,
        flux_config.clone(),
        &mut source,
    ))
    .unwrap();
    let (rows, cols) = (4, 4);
    let positions = flux
        .positions(&gpu, &text_ids(t5_length), &image_ids(rows, cols))
        .unwrap();
    let noise =
        Tensor::from_slice(&gpu, want("noise"), &[rows * cols, flux_config.in_channels]).unwrap();
    let velocity = flux
        .forward(
            &gpu,
            &FluxInputs {
                img: &noise,
                txt: &txt,
                positions: &positions,
                timestep: 1.0,
                y: &pooled,
                guidance: None,
            },
        )
        .unwrap();
    assert_close(
        "transformer velocity (Q8_0 against the f32 master)",
        &read(&gpu, &velocity),
        want("velocity"),
        Q8_TOLERANCE,
    );

    let ae = safetensors_f32(&file(&m, "autoencoder"));
    let decoder =
        pollster::block_on(Decoder::load(&gpu, ae_config.clone(), &mut ae.clone())).unwrap();
    let encoder =
        pollster::block_on(Encoder::load(&gpu, ae_config.clone(), &mut ae.clone())).unwrap();
    // PyTorch's latent (one Euler step from noise), unpacked to [16, 8, 8].
    let (noise_v, v) = (want("noise"), want("velocity"));
    let mut latent = vec![0f32; 16 * 8 * 8];
    for token in 0..rows * cols {
        let (r, c) = (token / cols, token % cols);
        for f in 0..64 {
            let (ch, ph, pw) = (f / 4, (f / 2) % 2, f % 2);
            latent[ch * 64 + (2 * r + ph) * 8 + 2 * c + pw] =
                noise_v[token * 64 + f] - v[token * 64 + f];
        }
    }
    let decoded = decoder
        .decode(
            &gpu,
            &Tensor::from_slice(&gpu, &latent, &[16, 8, 8]).unwrap(),
        )
        .unwrap();
    assert_close(
        "autoencoder decode",
        &read(&gpu, &decoded),
        want("decoded"),
        F32_TOLERANCE,
    );
    let clamped: Vec<f32> = want("decoded").iter().map(|x| x.clamp(-1.0, 1.0)).collect();
    let encoded = encoder
        .encode(
            &gpu,
            &Tensor::from_slice(&gpu, &clamped, &[3, 64, 64]).unwrap(),
        )
        .unwrap();
    assert_close(
        "autoencoder encode",
        &read(&gpu, &encoded),
        want("encoded"),
        F32_TOLERANCE,
    );
}
