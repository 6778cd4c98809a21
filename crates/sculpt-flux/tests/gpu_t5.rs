//! The T5 v1.1 encoder on the GPU against candle-transformers'
//! `T5EncoderModel` on the CPU, at the tiny configuration, with the same
//! random weights and token ids.
//!
//! Tolerance: 1e-4 of the output's largest magnitude, per element. Both
//! sides compute in f32 and differ by rounding only: the GPU sums matmuls
//! and norms in another order, its tanh is a few ULP off the CPU's, and
//! attention's online softmax rescales partial sums. Each is ~1e-6
//! relative; through 2 blocks, each adding to the residual stream, and the
//! final norm they stay below 1e-6 of the output's scale (observed on
//! lavapipe: 7.0e-7 at 40 tokens, 5.4e-7 at 150; each run prints its own).
//! A bug is orders of magnitude off: counting the query's own position as
//! a key after it gives 1.7e-1, log-spaced buckets one too high 4.2e-1, and
//! clamping one bucket early (seen by the 150-token test only) 3.1e-1. The
//! output is RMS-normed, so its scale is O(1) and an element-relative bound
//! would be meaningless only for elements near zero; hence one relative to
//! the output's scale.
//!
//! Run natively: `XDG_RUNTIME_DIR=/tmp/xdg cargo test -p sculpt-flux`.

#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::{assert_close, gpu, scaled_error};
use sculpt_flux::weights::LoadError;
use std::collections::HashMap;

use candle_core::{DType, Device};
use candle_transformers::models::t5 as reference;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sculpt_flux::models::t5::{
    SourceError, SourceTensor, T5Config, T5Encoder, T5Error, TensorData,
};
use sculpt_gpu::{
    Gpu,
    weights::{WeightFormat, repack},
};

type Weights = HashMap<String, (Vec<usize>, Vec<f32>)>;

/// Largest allowed |gpu − cpu| over the largest |cpu| of the output.
const TOLERANCE: f32 = 1e-4;
const END_OF_SEQUENCE: u32 = 1;
const PAD: u32 = 0;
const BUCKET_WEIGHTS: &str = "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight";

/// Reproducible uniform values of mean `center` and standard deviation
/// `std` (U(center ± √3·std)).
fn random_with_std(rng: &mut ChaCha8Rng, len: usize, center: f32, std: f32) -> Vec<f32> {
    common::random(rng, len, center, 3f32.sqrt() * std)
}

/// Every tensor of a T5 encoder checkpoint for `config`, by Hugging Face
/// name, with its shape and the standard deviation of T5's initialization
/// (`T5PreTrainedModel._init_weights`, factor 1), written out independently
/// of the model's loader. Norm scales are marked by a deviation of `None`.
fn checkpoint_layout(config: &T5Config) -> Vec<(String, Vec<usize>, Option<f32>)> {
    let (d, inner, ff) = (config.d_model, config.inner_dim(), config.d_ff);
    let inverse_sqrt = |n: usize| Some(1.0 / (n as f32).sqrt());
    let mut tensors = vec![(
        "shared.weight".to_string(),
        vec![config.vocab_size, d],
        Some(1.0),
    )];
    // T5 initializes the bucket weights at 1/√d_model (0.125 here); trained
    // ones span several units, as a bias must to steer attention. They are
    // drawn at std 1 so that the bias weighs as much as the scores and a
    // wrong bucket shows.
    tensors.push((
        BUCKET_WEIGHTS.to_string(),
        vec![config.relative_attention_num_buckets, config.num_heads],
        Some(1.0),
    ));
    for block in 0..config.num_layers {
        let attention = format!("encoder.block.{block}.layer.0");
        let feed_forward = format!("encoder.block.{block}.layer.1");
        tensors.push((format!("{attention}.layer_norm.weight"), vec![d], None));
        // The query absorbs the 1/√d_kv the scores are not scaled by.
        tensors.push((
            format!("{attention}.SelfAttention.q.weight"),
            vec![inner, d],
            inverse_sqrt(d * config.d_kv),
        ));
        for projection in ["k", "v"] {
            tensors.push((
                format!("{attention}.SelfAttention.{projection}.weight"),
                vec![inner, d],
                inverse_sqrt(d),
            ));
        }
        tensors.push((
            format!("{attention}.SelfAttention.o.weight"),
            vec![d, inner],
            inverse_sqrt(inner),
        ));
        tensors.push((format!("{feed_forward}.layer_norm.weight"), vec![d], None));
        for input in ["wi_0", "wi_1"] {
            tensors.push((
                format!("{feed_forward}.DenseReluDense.{input}.weight"),
                vec![ff, d],
                inverse_sqrt(d),
            ));
        }
        tensors.push((
            format!("{feed_forward}.DenseReluDense.wo.weight"),
            vec![d, ff],
            inverse_sqrt(ff),
        ));
    }
    tensors.push(("encoder.final_layer_norm.weight".to_string(), vec![d], None));
    tensors
}

/// Random weights at T5's initialization scale; norm scales around their
/// init of 1, spread so that a scale applied to the wrong norm shows.
fn random_weights(config: &T5Config, seed: u64) -> Weights {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    checkpoint_layout(config)
        .into_iter()
        .map(|(name, shape, std)| {
            let len = shape.iter().product();
            let values = match std {
                Some(std) => random_with_std(&mut rng, len, 0.0, std),
                None => random_with_std(&mut rng, len, 1.0, 0.15),
            };
            (name, (shape, values))
        })
        .collect()
}

fn reference_model(config: &T5Config, weights: &Weights) -> reference::T5EncoderModel {
    let tensors = weights
        .iter()
        .map(|(name, (shape, values))| {
            let tensor = candle_core::Tensor::from_slice(values, shape.as_slice(), &Device::Cpu);
            (name.clone(), tensor.unwrap())
        })
        .collect();
    let vb = candle_nn::VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu);
    let reference_config = reference::Config {
        vocab_size: config.vocab_size,
        d_model: config.d_model,
        d_kv: config.d_kv,
        d_ff: config.d_ff,
        num_layers: config.num_layers,
        num_heads: config.num_heads,
        relative_attention_num_buckets: config.relative_attention_num_buckets,
        relative_attention_max_distance: config.relative_attention_max_distance,
        layer_norm_epsilon: 1e-6,
        // T5 v1.1's "gated-gelu": GELU with the tanh approximation.
        feed_forward_proj: reference::ActivationWithOptionalGating {
            gated: true,
            activation: candle_nn::Activation::NewGelu,
        },
        tie_word_embeddings: false,
        use_cache: false,
        ..reference::Config::default()
    };
    reference::T5EncoderModel::load(vb, &reference_config).unwrap()
}

fn reference_forward(config: &T5Config, weights: &Weights, ids: &[u32]) -> Vec<f32> {
    let mut model = reference_model(config, weights);
    let ids = candle_core::Tensor::from_slice(ids, (1, ids.len()), &Device::Cpu).unwrap();
    let out = model.forward(&ids).unwrap();
    assert_eq!(out.dims(), [1, ids.dims()[1], config.d_model]);
    out.flatten_all().unwrap().to_vec1().unwrap()
}

fn gpu_forward(gpu: &Gpu, model: &T5Encoder, ids: &[u32]) -> Result<Vec<f32>, T5Error> {
    let out = model.forward(gpu, ids)?;
    assert_eq!(out.shape(), [ids.len(), model.config().d_model]);
    Ok(pollster::block_on(out.to_vec(gpu))?)
}

/// A prompt as the tokenizer hands it over: `real` random word ids
/// (2 and up, past the pad and end-of-sequence ids), `</s>`, then `<pad>`
/// up to `length`.
fn prompt_ids(config: &T5Config, real: usize, length: usize, seed: u64) -> Vec<u32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut ids: Vec<u32> = (0..real)
        .map(|_| rng.random_range(2..config.vocab_size as u32))
        .collect();
    ids.push(END_OF_SEQUENCE);
    ids.resize(length, PAD);
    ids
}

fn matches_candle(ids: &[u32], seed: u64) {
    config_matches_candle(T5Config::tiny(), ids, seed);
}

fn config_matches_candle(config: T5Config, ids: &[u32], seed: u64) {
    let weights = random_weights(&config, seed);
    let want = reference_forward(&config, &weights, ids);
    let gpu = gpu();
    let model = pollster::block_on(T5Encoder::load(&gpu, config, &mut weights.clone())).unwrap();
    let got = gpu_forward(&gpu, &model, ids).unwrap();
    assert_close(&format!("{} tokens", ids.len()), &got, &want, TOLERANCE);
}

#[test]
fn a_padded_prompt_matches_candle() {
    let config = T5Config::tiny();
    matches_candle(&prompt_ids(&config, 12, 40, 21), 22);
}

#[test]
fn heads_8_wide_match_candle() {
    // A quarter of the attention kernel's 32-dimension part: the rest of it
    // is padding that must add nothing.
    let config = T5Config {
        d_kv: 8,
        num_heads: 4,
        ..T5Config::tiny()
    };
    let ids = prompt_ids(&config, 12, 40, 28);
    config_matches_candle(config, &ids, 29);
}

#[test]
fn distances_past_the_bucket_boundaries_match_candle() {
    // 150 tokens: distances up to 149 cross every log-spaced bucket and the
    // clamp at 128, on both sides of the query.
    let config = T5Config::tiny();
    matches_candle(&prompt_ids(&config, 140, 150, 23), 24);
}

#[test]
fn the_position_bias_changes_the_output() {
    // Guards the comparisons above: were the bias ignored on both sides,
    // they would pass without testing the buckets.
    let config = T5Config::tiny();
    let ids = prompt_ids(&config, 30, 50, 25);
    let weights = random_weights(&config, 26);
    let mut flat = weights.clone();
    let (_, bucket_weights) = flat.get_mut(BUCKET_WEIGHTS).unwrap();
    bucket_weights.fill(0.0);
    let gpu = gpu();
    let with_bias =
        pollster::block_on(T5Encoder::load(&gpu, config.clone(), &mut weights.clone())).unwrap();
    let without_bias = pollster::block_on(T5Encoder::load(&gpu, config, &mut flat)).unwrap();
    let error = scaled_error(
        &gpu_forward(&gpu, &without_bias, &ids).unwrap(),
        &gpu_forward(&gpu, &with_bias, &ids).unwrap(),
    );
    assert!(error > 1e-2, "the bias moved the output by {error:e} only");
}

#[test]
fn the_encoder_only_embedding_name_is_read() {
    // Encoder-only exports name the table encoder.embed_tokens.weight.
    let config = T5Config::tiny();
    let ids = prompt_ids(&config, 12, 20, 27);
    let weights = random_weights(&config, 28);
    let mut renamed = weights.clone();
    let table = renamed.remove("shared.weight").unwrap();
    renamed.insert("encoder.embed_tokens.weight".into(), table);
    let gpu = gpu();
    let shared =
        pollster::block_on(T5Encoder::load(&gpu, config.clone(), &mut weights.clone())).unwrap();
    let own = pollster::block_on(T5Encoder::load(&gpu, config, &mut renamed)).unwrap();
    assert_eq!(
        gpu_forward(&gpu, &own, &ids).unwrap(),
        gpu_forward(&gpu, &shared, &ids).unwrap()
    );
}

#[test]
fn repeated_forward_creates_no_buffers_or_pipelines() {
    let config = T5Config::tiny();
    let gpu = gpu();
    let model = pollster::block_on(T5Encoder::load(
        &gpu,
        config.clone(),
        &mut random_weights(&config, 29),
    ))
    .unwrap();
    let ids = prompt_ids(&config, 12, 40, 30);
    let first = gpu_forward(&gpu, &model, &ids).unwrap();
    let before = gpu.stats();
    let second = gpu_forward(&gpu, &model, &ids).unwrap();
    let during = gpu.stats() - before;
    assert_eq!(during.buffers_created, 0, "{during:?}");
    assert_eq!(during.pipelines_created, 0, "{during:?}");
    assert!(during.dispatches > 0, "{during:?}");
    assert_eq!(first, second, "the same ids give the same hidden states");
}

#[test]
fn another_length_after_a_first_gives_candles_output() {
    // The bias table is cached per length: a second length must replace it.
    let config = T5Config::tiny();
    let weights = random_weights(&config, 31);
    let gpu = gpu();
    let model =
        pollster::block_on(T5Encoder::load(&gpu, config.clone(), &mut weights.clone())).unwrap();
    gpu_forward(&gpu, &model, &prompt_ids(&config, 5, 10, 32)).unwrap();
    let ids = prompt_ids(&config, 12, 24, 33);
    let error = scaled_error(
        &gpu_forward(&gpu, &model, &ids).unwrap(),
        &reference_forward(&config, &weights, &ids),
    );
    assert!(error <= TOLERANCE, "worst error {error:e}");
}

#[test]
fn a_missing_tensor_is_named() {
    let config = T5Config::tiny();
    let gpu = gpu();
    for name in [
        "encoder.block.1.layer.1.DenseReluDense.wi_1.weight",
        BUCKET_WEIGHTS,
        "encoder.final_layer_norm.weight",
        // Missing under both of its names, the table is asked for by the first.
        "shared.weight",
    ] {
        let mut weights = random_weights(&config, 34);
        weights.remove(name).unwrap();
        let error = pollster::block_on(T5Encoder::load(&gpu, config.clone(), &mut weights))
            .err()
            .expect("loading without a tensor fails");
        assert!(
            matches!(&error, T5Error::Load(LoadError::MissingTensor { name: missing, .. }) if missing == name),
            "{error}"
        );
        assert!(error.to_string().contains(name), "{error}");
    }
}

#[test]
fn a_misshaped_tensor_is_named() {
    let config = T5Config::tiny();
    let mut weights = random_weights(&config, 35);
    // Stored [heads, buckets] instead of [buckets, heads]: as many values.
    let (shape, _) = weights.get_mut(BUCKET_WEIGHTS).unwrap();
    shape.swap(0, 1);
    let gpu = gpu();
    let error = pollster::block_on(T5Encoder::load(&gpu, config, &mut weights))
        .err()
        .expect("loading a transposed tensor fails");
    assert!(
        matches!(&error, T5Error::Load(LoadError::TensorShape { name, .. }) if name == BUCKET_WEIGHTS),
        "{error}"
    );
}

#[test]
fn ids_outside_the_vocabulary_or_none_are_refused() {
    let config = T5Config::tiny();
    let gpu = gpu();
    let model = pollster::block_on(T5Encoder::load(
        &gpu,
        config.clone(),
        &mut random_weights(&config, 36),
    ))
    .unwrap();
    let outside = config.vocab_size as u32;
    for ids in [vec![5, outside, 1], vec![]] {
        let error = model.forward(&gpu, &ids).expect_err("refused");
        assert!(matches!(error, T5Error::Input(_)), "{error}");
    }
}

#[test]
fn checkpoint_layout_counts_t5_v1_1_xxl_encoder_parameters() {
    // The published size of FLUX's text_encoder_2 (T5 v1.1 XXL's encoder
    // with its embedding): the names and shapes the tests feed both models
    // are those of the real checkpoint at full size.
    let parameters: usize = checkpoint_layout(&T5Config::v1_1_xxl())
        .iter()
        .map(|(_, shape, _)| shape.iter().product::<usize>())
        .sum();
    assert_eq!(parameters, 4_762_310_656);
}

/// A source handing out the 2-D tensors named by `packed` already repacked
/// for the GPU (in f32, so values do not change), the way file readers do.
fn packed_source(
    weights: &Weights,
    packed: impl Fn(&str) -> bool,
) -> impl FnMut(&str) -> Result<Option<SourceTensor>, SourceError> {
    move |name: &str| {
        let Some((shape, values)) = weights.get(name) else {
            return Ok(None);
        };
        let data = match shape.as_slice() {
            &[rows, cols] if packed(name) => {
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
fn packed_linear_weights_give_the_same_hidden_states() {
    let config = T5Config::tiny();
    let weights = random_weights(&config, 37);
    let linear_layers = |name: &str| name != "shared.weight" && name != BUCKET_WEIGHTS;
    let gpu = gpu();
    let packed = pollster::block_on(T5Encoder::load(
        &gpu,
        config.clone(),
        &mut packed_source(&weights, linear_layers),
    ))
    .unwrap();
    let plain =
        pollster::block_on(T5Encoder::load(&gpu, config.clone(), &mut weights.clone())).unwrap();
    let ids = prompt_ids(&config, 12, 20, 38);
    assert_eq!(
        gpu_forward(&gpu, &packed, &ids).unwrap(),
        gpu_forward(&gpu, &plain, &ids).unwrap()
    );
}

#[test]
fn a_packed_table_is_refused_by_name() {
    // The embedding and bucket tables are read whole, not through the
    // linear kernels' storage formats.
    let config = T5Config::tiny();
    let weights = random_weights(&config, 39);
    let gpu = gpu();
    for table in ["shared.weight", BUCKET_WEIGHTS] {
        let error = pollster::block_on(T5Encoder::load(
            &gpu,
            config.clone(),
            &mut packed_source(&weights, |name| name == table),
        ))
        .err()
        .expect("a packed table is refused");
        assert!(
            matches!(&error, T5Error::Load(LoadError::Source { name, .. }) if name == table),
            "{error}"
        );
    }
}
