//! CLIP's text model on the GPU against candle-transformers'
//! `ClipTextTransformer` on the CPU, at the tiny configuration, with the
//! same random weights and token ids.
//!
//! Tolerance: 1e-4 of the output's largest magnitude, per element, for the
//! hidden states and the pooled vector alike. Both sides compute in f32 and
//! differ by rounding only: the GPU sums matmuls and norms in another order,
//! its exp (softmax, QuickGELU's sigmoid) is a few ULP off the CPU's, and its
//! attention's online softmax rescales partial sums. Each is ~1e-6 relative;
//! through 2 layers, each adding to a residual stream, and a final LayerNorm
//! they stay below 1e-6 of the output's scale (observed on lavapipe: 5.5e-7
//! for the hidden states and 3.5e-7 for the pooled vector of 77 ids; each
//! run prints its own). A bug is orders of magnitude off: attention without
//! the causal mask gives 0.9 (12 ids) and 1.3 (77 ids) of the scale. An
//! element-relative bound would be meaningless for outputs near zero, hence
//! one relative to the output's scale.
//!
//! Run natively: `XDG_RUNTIME_DIR=/tmp/xdg cargo test -p sculpt-flux`.

#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::{assert_close, gpu, random, scaled_error};
use sculpt_flux::weights::LoadError;
use std::collections::HashMap;

use candle_core::{DType, Device};
use candle_nn::Module;
use candle_transformers::models::clip::text_model as reference;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sculpt_flux::models::{
    clip::{ClipError, ClipTextConfig, ClipTextModel},
    flux1::{SourceError, SourceTensor, TensorData},
};
use sculpt_gpu::{
    Gpu,
    weights::{WeightFormat, repack},
};

type Weights = HashMap<String, (Vec<usize>, Vec<f32>)>;

/// Largest allowed |gpu − cpu| over the largest |cpu| of the output.
const TOLERANCE: f32 = 1e-4;
/// Where the end-of-text token sits in the 77-id sequence: mid-way, with
/// padding after it, as the tokenizer produces for a short prompt.
const END_OF_TEXT_INDEX: usize = 30;

/// Every tensor of a Hugging Face CLIP text model for `config`, by name,
/// with its shape, written out independently of the model's loader.
fn checkpoint_layout(config: &ClipTextConfig) -> Vec<(String, Vec<usize>)> {
    let (d, mlp) = (config.hidden_size, config.intermediate_size);
    let mut tensors = vec![
        (
            "text_model.embeddings.token_embedding.weight".to_string(),
            vec![config.vocab_size, d],
        ),
        (
            "text_model.embeddings.position_embedding.weight".to_string(),
            vec![config.max_positions, d],
        ),
    ];
    let mut with_bias = |name: String, weight: Vec<usize>| {
        tensors.push((format!("{name}.bias"), vec![weight[0]]));
        tensors.push((format!("{name}.weight"), weight));
    };
    for layer in 0..config.num_layers {
        let name = format!("text_model.encoder.layers.{layer}");
        for projection in ["q_proj", "k_proj", "v_proj", "out_proj"] {
            with_bias(format!("{name}.self_attn.{projection}"), vec![d, d]);
        }
        with_bias(format!("{name}.layer_norm1"), vec![d]);
        with_bias(format!("{name}.layer_norm2"), vec![d]);
        with_bias(format!("{name}.mlp.fc1"), vec![mlp, d]);
        with_bias(format!("{name}.mlp.fc2"), vec![d, mlp]);
    }
    with_bias("text_model.final_layer_norm".into(), vec![d]);
    tensors
}

/// Random weights scaled like the real inits: embeddings of magnitude ~0.02
/// (Hugging Face's N(0, 0.02)), linear weights and biases U(±1/√fan_in)
/// (PyTorch's default), LayerNorm scales around their init of 1 and shifts
/// around 0, so that activations stay O(1) through the layers.
fn random_weights(config: &ClipTextConfig, seed: u64) -> Weights {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let layout = checkpoint_layout(config);
    let fan_in: HashMap<String, usize> = layout
        .iter()
        .filter(|(_, shape)| shape.len() == 2)
        .filter_map(|(name, shape)| Some((name.strip_suffix(".weight")?.to_string(), shape[1])))
        .collect();
    layout
        .into_iter()
        .map(|(name, shape)| {
            let len = shape.iter().product();
            let layer = name.rsplit_once('.').expect("a layer's tensor").0;
            let values = if name.contains("embedding") {
                random(&mut rng, len, 0.0, 0.035)
            } else if name.contains("layer_norm") {
                let center = if name.ends_with(".weight") { 1.0 } else { 0.0 };
                random(&mut rng, len, center, 0.25)
            } else {
                random(&mut rng, len, 0.0, 1.0 / (fan_in[layer] as f32).sqrt())
            };
            (name, (shape, values))
        })
        .collect()
}

fn reference_model(config: &ClipTextConfig, weights: &Weights) -> reference::ClipTextTransformer {
    let tensors = weights
        .iter()
        .map(|(name, (shape, values))| {
            let tensor = candle_core::Tensor::from_slice(values, shape.as_slice(), &Device::Cpu);
            (name.clone(), tensor.unwrap())
        })
        .collect();
    let vb = candle_nn::VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu);
    let reference_config = reference::ClipTextConfig {
        vocab_size: config.vocab_size,
        embed_dim: config.hidden_size,
        activation: reference::Activation::QuickGelu,
        intermediate_size: config.intermediate_size,
        max_position_embeddings: config.max_positions,
        pad_with: None,
        num_hidden_layers: config.num_layers,
        num_attention_heads: config.num_heads,
        projection_dim: config.hidden_size,
    };
    reference::ClipTextTransformer::new(vb.pp("text_model"), &reference_config).unwrap()
}

/// Start-of-text, `words` random word ids, end-of-text, then end-of-text
/// padding up to `len`, as CLIP's tokenizer lays them out: the two special
/// tokens are the vocabulary's last ids, end-of-text the largest.
fn prompt_ids(config: &ClipTextConfig, words: usize, len: usize, seed: u64) -> Vec<u32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let end_of_text = config.vocab_size as u32 - 1;
    let mut ids = vec![end_of_text - 1];
    ids.extend((0..words).map(|_| rng.random_range(0..end_of_text - 1)));
    ids.resize(len, end_of_text);
    ids
}

/// candle's hidden states [n · d] (after the final LayerNorm) and pooled vector [d].
fn reference_forward(model: &reference::ClipTextTransformer, ids: &[u32]) -> (Vec<f32>, Vec<f32>) {
    let ids = candle_core::Tensor::from_slice(ids, (1, ids.len()), &Device::Cpu).unwrap();
    let hidden = model.forward_with_mask(&ids, usize::MAX).unwrap();
    let pooled = model.forward(&ids).unwrap();
    let flat = |t: candle_core::Tensor| t.flatten_all().unwrap().to_vec1().unwrap();
    (flat(hidden), flat(pooled))
}

/// The model's hidden states and pooled vector, read back.
fn gpu_forward(
    gpu: &Gpu,
    model: &ClipTextModel,
    ids: &[u32],
) -> Result<(Vec<f32>, Vec<f32>), ClipError> {
    let width = model.config().hidden_size;
    let (hidden, pooled) = model.forward(gpu, ids)?;
    assert_eq!(hidden.shape(), [ids.len(), width]);
    assert_eq!(pooled.shape(), [width]);
    Ok((
        pollster::block_on(hidden.to_vec(gpu))?,
        pollster::block_on(pooled.to_vec(gpu))?,
    ))
}

fn matches_candle(ids: &[u32], what: &str) {
    let config = ClipTextConfig::tiny();
    let weights = random_weights(&config, 21);
    let (want_hidden, want_pooled) = reference_forward(&reference_model(&config, &weights), ids);
    let gpu = gpu();
    let model =
        pollster::block_on(ClipTextModel::load(&gpu, config, &mut weights.clone())).unwrap();
    let (hidden, pooled) = gpu_forward(&gpu, &model, ids).unwrap();
    for (name, got, want) in [
        ("hidden", &hidden, &want_hidden),
        ("pooled", &pooled, &want_pooled),
    ] {
        assert_close(&format!("{what}, {name}"), got, want, TOLERANCE);
    }
}

#[test]
fn seventy_seven_ids_padded_after_end_of_text_match_candle() {
    let config = ClipTextConfig::tiny();
    let ids = prompt_ids(&config, END_OF_TEXT_INDEX - 1, 77, 22);
    assert_eq!(ids.len(), config.max_positions);
    assert_eq!(ids[END_OF_TEXT_INDEX], config.vocab_size as u32 - 1);
    matches_candle(&ids, "77 ids");
}

#[test]
fn a_shorter_sequence_matches_candle() {
    let config = ClipTextConfig::tiny();
    matches_candle(&prompt_ids(&config, 10, 12, 23), "12 ids");
}

#[test]
fn pooled_is_the_first_end_of_text_state() {
    let config = ClipTextConfig::tiny();
    let ids = prompt_ids(&config, END_OF_TEXT_INDEX - 1, 77, 24);
    let gpu = gpu();
    let model = pollster::block_on(ClipTextModel::load(
        &gpu,
        config.clone(),
        &mut random_weights(&config, 25),
    ))
    .unwrap();
    let (hidden, pooled) = gpu_forward(&gpu, &model, &ids).unwrap();
    let width = config.hidden_size;
    let start = END_OF_TEXT_INDEX * width;
    assert_eq!(pooled, hidden[start..start + width]);
}

#[test]
fn states_up_to_end_of_text_ignore_what_follows_it() {
    // Causal attention: no state sees a later token. With it, other ids
    // after the end-of-text token leave every state up to it (and so the
    // pooled vector) as they were; without it they would all change.
    let config = ClipTextConfig::tiny();
    let padded = prompt_ids(&config, END_OF_TEXT_INDEX - 1, 77, 26);
    let mut rng = ChaCha8Rng::seed_from_u64(27);
    let mut other_tail = padded.clone();
    for id in &mut other_tail[END_OF_TEXT_INDEX + 1..] {
        // Lower than end-of-text, so the pooled position stays put.
        *id = rng.random_range(0..config.vocab_size as u32 - 2);
    }
    let gpu = gpu();
    let model = pollster::block_on(ClipTextModel::load(
        &gpu,
        config.clone(),
        &mut random_weights(&config, 28),
    ))
    .unwrap();
    let (hidden, pooled) = gpu_forward(&gpu, &model, &padded).unwrap();
    let (other_hidden, other_pooled) = gpu_forward(&gpu, &model, &other_tail).unwrap();
    let prefix = (END_OF_TEXT_INDEX + 1) * config.hidden_size;
    assert_eq!(hidden[..prefix], other_hidden[..prefix]);
    assert_eq!(pooled, other_pooled);
    let tail_change = scaled_error(&other_hidden[prefix..], &hidden[prefix..]);
    assert!(tail_change > 1e-2, "the tail moved by only {tail_change:e}");
}

#[test]
fn repeated_forward_creates_no_buffers_or_pipelines() {
    let config = ClipTextConfig::tiny();
    let gpu = gpu();
    let model = pollster::block_on(ClipTextModel::load(
        &gpu,
        config.clone(),
        &mut random_weights(&config, 29),
    ))
    .unwrap();
    let ids = prompt_ids(&config, 8, 77, 30);
    let first = gpu_forward(&gpu, &model, &ids).unwrap();
    let before = gpu.stats();
    let second = gpu_forward(&gpu, &model, &ids).unwrap();
    let during = gpu.stats() - before;
    assert_eq!(during.buffers_created, 0, "{during:?}");
    assert_eq!(during.pipelines_created, 0, "{during:?}");
    assert!(during.dispatches > 0, "{during:?}");
    assert_eq!(first, second, "the same ids give the same states");
}

#[test]
fn a_missing_tensor_is_named() {
    let config = ClipTextConfig::tiny();
    let mut weights = random_weights(&config, 31);
    let name = "text_model.encoder.layers.1.self_attn.v_proj.bias";
    weights.remove(name).unwrap();
    let gpu = gpu();
    let error = pollster::block_on(ClipTextModel::load(&gpu, config, &mut weights))
        .err()
        .expect("loading without a tensor fails");
    assert!(
        matches!(&error, ClipError::Load(LoadError::MissingTensor { name: missing, .. }) if missing == name),
        "{error}"
    );
    assert!(error.to_string().contains(name), "{error}");
}

#[test]
fn a_misshaped_tensor_is_named() {
    let config = ClipTextConfig::tiny();
    let mut weights = random_weights(&config, 32);
    let name = "text_model.encoder.layers.0.mlp.fc2.weight";
    let (shape, values) = weights.get_mut(name).unwrap();
    // The transposed weight: as many values, the wrong shape.
    shape.swap(0, 1);
    assert_eq!(values.len(), shape.iter().product::<usize>());
    let gpu = gpu();
    let error = pollster::block_on(ClipTextModel::load(&gpu, config, &mut weights))
        .err()
        .expect("loading a transposed weight fails");
    assert!(
        matches!(&error, ClipError::Load(LoadError::TensorShape { name: misshaped, .. }) if misshaped == name),
        "{error}"
    );
    assert!(error.to_string().contains(name), "{error}");
}

/// A closure source over `weights` handing out the 2-D tensors whose names
/// `pack` accepts already repacked for the GPU (in f32, so that values do
/// not change), the way file readers plug in.
fn packed_source(
    weights: &Weights,
    pack: impl Fn(&str) -> bool,
) -> impl FnMut(&str) -> Result<Option<SourceTensor>, SourceError> {
    move |name: &str| {
        let Some((shape, values)) = weights.get(name) else {
            return Ok(None);
        };
        let data = match shape.as_slice() {
            &[rows, cols] if pack(name) => {
                let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
                TensorData::Packed(repack(WeightFormat::F32, rows, cols, &bytes)?)
            }
            _ => TensorData::F32(values.clone()),
        };
        Ok(Some(SourceTensor {
            shape: shape.clone(),
            data,
        }))
    }
}

#[test]
fn packed_linear_weights_give_the_same_states() {
    let config = ClipTextConfig::tiny();
    let weights = random_weights(&config, 34);
    let gpu = gpu();
    let mut source = packed_source(&weights, |name| !name.contains("embedding"));
    let packed =
        pollster::block_on(ClipTextModel::load(&gpu, config.clone(), &mut source)).unwrap();
    let plain = pollster::block_on(ClipTextModel::load(
        &gpu,
        config.clone(),
        &mut weights.clone(),
    ))
    .unwrap();
    let ids = prompt_ids(&config, 6, 77, 35);
    assert_eq!(
        gpu_forward(&gpu, &packed, &ids).unwrap(),
        gpu_forward(&gpu, &plain, &ids).unwrap()
    );
}

#[test]
fn a_packed_embedding_table_is_refused_by_name() {
    // The gather kernel reads f32 rows: a source must hand out the tables
    // as f32, and one that does not is told which tensor.
    let config = ClipTextConfig::tiny();
    let weights = random_weights(&config, 36);
    let name = "text_model.embeddings.position_embedding.weight";
    let gpu = gpu();
    let error = pollster::block_on(ClipTextModel::load(
        &gpu,
        config,
        &mut packed_source(&weights, |n| n == name),
    ))
    .err()
    .expect("a packed table is refused");
    assert!(
        matches!(&error, ClipError::Load(LoadError::Source { name: refused, .. }) if refused == name),
        "{error}"
    );
    assert!(error.to_string().contains(name), "{error}");
}

#[test]
fn ids_the_model_cannot_take_are_refused() {
    let config = ClipTextConfig::tiny();
    let gpu = gpu();
    let model = pollster::block_on(ClipTextModel::load(
        &gpu,
        config.clone(),
        &mut random_weights(&config, 33),
    ))
    .unwrap();
    let too_long = vec![1; config.max_positions + 1];
    let outside_vocabulary = [config.vocab_size as u32];
    for ids in [&[][..], &too_long, &outside_vocabulary] {
        let error = model.forward(&gpu, ids).expect_err("refused");
        assert!(matches!(error, ClipError::Input(_)), "{error}");
    }
}

#[test]
fn checkpoint_layout_counts_clip_l_text_parameters() {
    // The published size of CLIP ViT-L/14's text model, 123,060,480
    // parameters: the names and shapes the tests load are the real model's.
    let parameters: usize = checkpoint_layout(&ClipTextConfig::vit_l_14())
        .iter()
        .map(|(_, shape)| shape.iter().product::<usize>())
        .sum();
    assert_eq!(parameters, 123_060_480);
}

#[test]
fn configurations_the_kernels_cannot_run_are_refused() {
    let gpu = gpu();
    let odd_heads = ClipTextConfig {
        num_heads: 3,
        ..ClipTextConfig::tiny()
    };
    let error = pollster::block_on(ClipTextModel::load(&gpu, odd_heads, &mut Weights::new()))
        .err()
        .expect("refused");
    assert!(matches!(error, ClipError::Config(_)), "{error}");
}
