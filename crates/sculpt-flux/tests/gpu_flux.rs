//! The FLUX transformer on the GPU against candle-transformers' FLUX model
//! on the CPU, at the tiny configuration, with the same random weights and
//! inputs.
//!
//! Tolerance: 1e-4 of the output's largest magnitude, per element. Both
//! sides compute in f32; they differ by rounding only: the GPU sums matmuls
//! and norms in another order, its exp/tanh/cos are a few ULP off the CPU's,
//! attention's online softmax rescales partial sums, and the rotary table is
//! built in f64 here but in f32 there. Each of these is ~1e-6 relative;
//! through 2 double and 2 single blocks, each adding its output to a
//! residual stream, they grow to a few 1e-6 of the output's scale (observed
//! on lavapipe: 1.3e-6 for schnell's structure, 6.2e-6 for dev's; each run
//! prints its own). A bug is orders of magnitude off: swapping one
//! modulation's shift and scale gives 1.5e-2. An element-relative bound
//! would be meaningless for outputs near zero, hence one relative to the
//! output's scale.
//!
//! Run natively: `XDG_RUNTIME_DIR=/tmp/xdg cargo test -p sculpt-flux`.

#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::{assert_close, gpu, random};
use std::collections::{BTreeMap, HashMap};

use candle_core::{DType, Device};
use candle_transformers::models::flux::{WithForward, model as reference};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sculpt_flux::formats::{
    Dtype, Encoding, MemorySource, TensorToWrite, f32_safetensors_bytes, gguf_bytes,
    safetensors_bytes,
};
use sculpt_flux::models::flux1::{
    DiffusersNames, FluxConfig, FluxError, FluxInputs, FluxTransformer, SourceError, SourceTensor,
    TIME_EMBEDDING_DIM, TensorData, image_ids, text_ids,
};
use sculpt_flux::weights::{FileWeights, LoadError};
use sculpt_gpu::{
    Gpu, GpuOptions, Tensor,
    weights::{WeightFormat, repack},
};

type Weights = HashMap<String, (Vec<usize>, Vec<f32>)>;

/// Largest allowed |gpu − cpu| over the largest |cpu| of the output.
const TOLERANCE: f32 = 1e-4;
const TIMESTEP: f32 = 0.7;
const GUIDANCE: f32 = 3.5;
/// The latent is 12×16, so the image is 6×8 = 48 tokens.
const IMAGE_ROWS: usize = 6;
const IMAGE_COLS: usize = 8;
const TEXT_TOKENS: usize = 5;

/// Every tensor of a FLUX checkpoint for `config`, by BFL name, with its
/// shape, written out independently of the model's loader.
fn checkpoint_layout(config: &FluxConfig) -> Vec<(String, Vec<usize>)> {
    let h = config.hidden_size;
    let d = config.head_dim();
    let mlp = config.mlp_hidden();
    let mut tensors = Vec::new();
    let mut linear = |name: String, inputs: usize, outputs: usize, bias: bool| {
        tensors.push((format!("{name}.weight"), vec![outputs, inputs]));
        if bias {
            tensors.push((format!("{name}.bias"), vec![outputs]));
        }
    };
    linear("img_in".into(), config.in_channels, h, true);
    linear("txt_in".into(), config.context_in_dim, h, true);
    let mut embedders = vec![
        ("time_in", TIME_EMBEDDING_DIM),
        ("vector_in", config.vec_in_dim),
    ];
    if config.guidance_embed {
        embedders.push(("guidance_in", TIME_EMBEDDING_DIM));
    }
    for (name, inputs) in embedders {
        linear(format!("{name}.in_layer"), inputs, h, true);
        linear(format!("{name}.out_layer"), h, h, true);
    }
    for block in 0..config.double_blocks {
        for stream in ["img", "txt"] {
            let name = format!("double_blocks.{block}.{stream}");
            linear(format!("{name}_mod.lin"), h, 6 * h, true);
            linear(format!("{name}_attn.qkv"), h, 3 * h, config.qkv_bias);
            linear(format!("{name}_attn.proj"), h, h, true);
            linear(format!("{name}_mlp.0"), h, mlp, true);
            linear(format!("{name}_mlp.2"), mlp, h, true);
        }
    }
    for block in 0..config.single_blocks {
        let name = format!("single_blocks.{block}");
        linear(format!("{name}.modulation.lin"), h, 3 * h, true);
        linear(format!("{name}.linear1"), h, 3 * h + mlp, true);
        linear(format!("{name}.linear2"), h + mlp, h, true);
    }
    linear("final_layer.adaLN_modulation.1".into(), h, 2 * h, true);
    linear("final_layer.linear".into(), h, config.in_channels, true);
    let mut norms: Vec<String> = (0..config.double_blocks)
        .flat_map(|block| {
            ["img", "txt"].map(|stream| format!("double_blocks.{block}.{stream}_attn.norm"))
        })
        .collect();
    norms.extend((0..config.single_blocks).map(|block| format!("single_blocks.{block}.norm")));
    for norm in norms {
        for which in ["query_norm", "key_norm"] {
            tensors.push((format!("{norm}.{which}.scale"), vec![d]));
        }
    }
    tensors
}

/// Random weights scaled like PyTorch's default init, U(±1/√fan_in) for
/// linear weights and biases, and QK-norm scales around their init of 1, so
/// that activations stay O(1) through the blocks.
fn random_weights(config: &FluxConfig, seed: u64) -> Weights {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let layout = checkpoint_layout(config);
    let fan_in: HashMap<String, usize> = layout
        .iter()
        .filter_map(|(name, shape)| {
            let layer = name.strip_suffix(".weight")?;
            Some((layer.to_string(), shape[1]))
        })
        .collect();
    layout
        .into_iter()
        .map(|(name, shape)| {
            let len = shape.iter().product();
            let values = if name.ends_with(".scale") {
                random(&mut rng, len, 1.0, 0.25)
            } else {
                let layer = name.rsplit_once('.').expect("a layer's tensor").0;
                let bound = 1.0 / (fan_in[layer] as f32).sqrt();
                random(&mut rng, len, 0.0, bound)
            };
            (name, (shape, values))
        })
        .collect()
}

fn reference_model(config: &FluxConfig, weights: &Weights) -> reference::Flux {
    let tensors = weights
        .iter()
        .map(|(name, (shape, values))| {
            let tensor = candle_core::Tensor::from_slice(values, shape.as_slice(), &Device::Cpu);
            (name.clone(), tensor.unwrap())
        })
        .collect();
    let vb = candle_nn::VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu);
    let reference_config = reference::Config {
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
    };
    reference::Flux::new(&reference_config, vb).unwrap()
}

/// One step's inputs, on the CPU: image tokens, text tokens, pooled vector.
struct StepInputs {
    img: Vec<f32>,
    txt: Vec<f32>,
    y: Vec<f32>,
}

impl StepInputs {
    fn random(config: &FluxConfig, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let image_tokens = IMAGE_ROWS * IMAGE_COLS;
        Self {
            img: random(&mut rng, image_tokens * config.in_channels, 0.0, 1.0),
            txt: random(&mut rng, TEXT_TOKENS * config.context_in_dim, 0.0, 1.0),
            y: random(&mut rng, config.vec_in_dim, 0.0, 1.0),
        }
    }
}

fn reference_forward(
    config: &FluxConfig,
    model: &reference::Flux,
    inputs: &StepInputs,
    guidance: Option<f32>,
) -> Vec<f32> {
    let cpu = |values: &[f32], shape: &[usize]| {
        candle_core::Tensor::from_slice(values, shape, &Device::Cpu).unwrap()
    };
    let image_tokens = IMAGE_ROWS * IMAGE_COLS;
    let guidance = guidance.map(|g| cpu(&[g], &[1]));
    let out = model
        .forward(
            &cpu(&inputs.img, &[1, image_tokens, config.in_channels]),
            &cpu(&image_ids(IMAGE_ROWS, IMAGE_COLS), &[1, image_tokens, 3]),
            &cpu(&inputs.txt, &[1, TEXT_TOKENS, config.context_in_dim]),
            &cpu(&text_ids(TEXT_TOKENS), &[1, TEXT_TOKENS, 3]),
            &cpu(&[TIMESTEP], &[1]),
            &cpu(&inputs.y, &[1, config.vec_in_dim]),
            guidance.as_ref(),
        )
        .unwrap();
    assert_eq!(out.dims(), [1, image_tokens, config.in_channels]);
    out.flatten_all().unwrap().to_vec1().unwrap()
}

/// The model's forward pass, read back.
fn gpu_forward(
    gpu: &Gpu,
    model: &FluxTransformer,
    inputs: &StepInputs,
    guidance: Option<f32>,
) -> Result<Vec<f32>, FluxError> {
    let config = model.config();
    let image_tokens = IMAGE_ROWS * IMAGE_COLS;
    let positions = model.positions(
        gpu,
        &text_ids(TEXT_TOKENS),
        &image_ids(IMAGE_ROWS, IMAGE_COLS),
    )?;
    let img = Tensor::from_slice(gpu, &inputs.img, &[image_tokens, config.in_channels])?;
    let txt = Tensor::from_slice(gpu, &inputs.txt, &[TEXT_TOKENS, config.context_in_dim])?;
    let y = Tensor::from_slice(gpu, &inputs.y, &[config.vec_in_dim])?;
    let out = model.forward(
        gpu,
        &FluxInputs {
            img: &img,
            txt: &txt,
            positions: &positions,
            timestep: TIMESTEP,
            y: &y,
            guidance,
        },
    )?;
    assert_eq!(out.shape(), [image_tokens, config.in_channels]);
    Ok(pollster::block_on(out.to_vec(gpu))?)
}

fn matches_candle(guidance_embed: bool, guidance: Option<f32>) {
    let config = FluxConfig::tiny(guidance_embed);
    let weights = random_weights(&config, 11);
    let inputs = StepInputs::random(&config, 12);
    let want = reference_forward(
        &config,
        &reference_model(&config, &weights),
        &inputs,
        guidance,
    );
    let gpu = gpu();
    let model =
        pollster::block_on(FluxTransformer::load(&gpu, config, &mut weights.clone())).unwrap();
    let got = gpu_forward(&gpu, &model, &inputs, guidance).unwrap();
    assert_close(
        &format!("guidance_embed {guidance_embed}"),
        &got,
        &want,
        TOLERANCE,
    );
}

#[test]
fn schnell_structure_matches_candle() {
    // schnell takes no guidance: a guidance given is ignored, as in candle.
    matches_candle(false, Some(GUIDANCE));
}

#[test]
fn dev_structure_with_guidance_matches_candle() {
    matches_candle(true, Some(GUIDANCE));
}

#[test]
fn mlps_wider_than_a_binding_run_in_token_chunks() {
    // 53 tokens × the MLP's 512 features take 106 KiB; a 64 KiB binding
    // runs both kinds of block's MLP on 32 tokens, then 21, and splits
    // their weights (256 KiB in f32) into 4 buffers each.
    let config = FluxConfig::tiny(true);
    let weights = random_weights(&config, 13);
    let inputs = StepInputs::random(&config, 14);
    let want = reference_forward(
        &config,
        &reference_model(&config, &weights),
        &inputs,
        Some(GUIDANCE),
    );
    let binding = 64 << 10;
    let options = GpuOptions {
        max_storage_binding: Some(binding),
        ..GpuOptions::default()
    };
    let gpu = pollster::block_on(Gpu::with_options(options)).unwrap();
    let tokens = IMAGE_ROWS * IMAGE_COLS + TEXT_TOKENS;
    assert!(
        Tensor::uninit(&gpu, &[tokens, config.mlp_hidden()]).is_err(),
        "the MLP's activation would fit one binding: the test checks nothing"
    );
    let model =
        pollster::block_on(FluxTransformer::load(&gpu, config, &mut weights.clone())).unwrap();
    let got = gpu_forward(&gpu, &model, &inputs, Some(GUIDANCE)).unwrap();
    assert_close("token chunks", &got, &want, TOLERANCE);

    let before = gpu.stats();
    let again = gpu_forward(&gpu, &model, &inputs, Some(GUIDANCE)).unwrap();
    let during = gpu.stats() - before;
    assert_eq!(during.buffers_created, 0, "{during:?}");
    assert_eq!(got, again);
}

/// With `GpuOptions::f16_linear` every linear layer of ≥ 9 rows multiplies
/// in f16: each rounds to about 1e-3 of its products' size, and the
/// residual stream carries that through 4 blocks. 1e-2 of the output's
/// scale bounds it (the figure each run prints is the quality cost); a
/// layer computed wrongly in f16 would be off by its whole output.
#[test]
fn f16_linear_layers_stay_near_candle() {
    let config = FluxConfig::tiny(true);
    let weights = random_weights(&config, 15);
    let inputs = StepInputs::random(&config, 16);
    let want = reference_forward(
        &config,
        &reference_model(&config, &weights),
        &inputs,
        Some(GUIDANCE),
    );
    let options = GpuOptions {
        f16_linear: true,
        ..GpuOptions::default()
    };
    let gpu = pollster::block_on(Gpu::with_options(options)).unwrap();
    if !gpu.report.shader_f16 {
        assert!(
            option_env!("SCULPT_REQUIRE_F16").is_none(),
            "this adapter was expected to offer shader-f16"
        );
        return;
    }
    assert!(gpu.report.f16_linear);
    let model =
        pollster::block_on(FluxTransformer::load(&gpu, config, &mut weights.clone())).unwrap();
    let got = gpu_forward(&gpu, &model, &inputs, Some(GUIDANCE)).unwrap();
    assert_close("f16 linear layers", &got, &want, 1e-2);
    // The f16 path really ran: f32 agrees with candle far more closely.
    assert!(common::scaled_error(&got, &want) > TOLERANCE);
}

#[test]
fn dev_structure_needs_a_guidance_strength() {
    let config = FluxConfig::tiny(true);
    let gpu = gpu();
    let model = pollster::block_on(FluxTransformer::load(
        &gpu,
        config.clone(),
        &mut random_weights(&config, 3),
    ))
    .unwrap();
    let inputs = StepInputs::random(&config, 4);
    let error = gpu_forward(&gpu, &model, &inputs, None).unwrap_err();
    assert!(
        matches!(&error, FluxError::Input(message) if message.contains("guidance")),
        "{error}"
    );
}

#[test]
fn repeated_forward_creates_no_buffers_or_pipelines() {
    let config = FluxConfig::tiny(true);
    let gpu = gpu();
    let model = pollster::block_on(FluxTransformer::load(
        &gpu,
        config.clone(),
        &mut random_weights(&config, 5),
    ))
    .unwrap();
    let inputs = StepInputs::random(&config, 6);
    let first = gpu_forward(&gpu, &model, &inputs, Some(GUIDANCE)).unwrap();
    let before = gpu.stats();
    let second = gpu_forward(&gpu, &model, &inputs, Some(GUIDANCE)).unwrap();
    let during = gpu.stats() - before;
    assert_eq!(during.buffers_created, 0, "{during:?}");
    assert_eq!(during.pipelines_created, 0, "{during:?}");
    // Inputs, positions and the two scalars go up; the prediction comes back.
    assert!(during.dispatches > 0, "{during:?}");
    assert_eq!(first, second, "the same inputs give the same prediction");
}

#[test]
fn a_missing_tensor_is_named() {
    let config = FluxConfig::tiny(false);
    let mut weights = random_weights(&config, 7);
    let name = "single_blocks.1.norm.key_norm.scale";
    weights.remove(name).unwrap();
    let gpu = gpu();
    let error = pollster::block_on(FluxTransformer::load(&gpu, config, &mut weights))
        .err()
        .expect("loading without a tensor fails");
    assert!(
        matches!(&error, FluxError::Load(LoadError::MissingTensor { name: missing, .. }) if missing == name),
        "{error}"
    );
    assert!(error.to_string().contains(name), "{error}");
}

#[test]
fn a_misshaped_tensor_is_named() {
    let config = FluxConfig::tiny(true);
    let mut weights = random_weights(&config, 8);
    let name = "double_blocks.0.txt_attn.qkv.weight";
    let (shape, values) = weights.get_mut(name).unwrap();
    // The transposed weight: as many values, the wrong shape.
    shape.swap(0, 1);
    assert_eq!(values.len(), shape.iter().product::<usize>());
    let gpu = gpu();
    let error = pollster::block_on(FluxTransformer::load(&gpu, config, &mut weights))
        .err()
        .expect("loading a transposed weight fails");
    assert!(
        matches!(&error, FluxError::Load(LoadError::TensorShape { name: misshaped, .. }) if misshaped == name),
        "{error}"
    );
    assert!(error.to_string().contains(name), "{error}");
}

#[test]
fn checkpoint_layout_counts_flux1_schnell_parameters() {
    // The published size of FLUX.1-schnell: the names and shapes the tests
    // feed both models are those of the real checkpoint at full size.
    let parameters: usize = checkpoint_layout(&FluxConfig::schnell())
        .iter()
        .map(|(_, shape)| shape.iter().product::<usize>())
        .sum();
    assert_eq!(parameters, 11_891_178_560);
}

#[test]
fn packed_weights_from_a_closure_give_the_same_prediction() {
    // The way file readers plug in: a closure handing out matrices already
    // repacked for the GPU (here in f32, so the prediction must not change).
    let config = FluxConfig::tiny(false);
    let weights = random_weights(&config, 9);
    let mut packed_source = |name: &str| -> Result<Option<SourceTensor>, SourceError> {
        let Some((shape, values)) = weights.get(name) else {
            return Ok(None);
        };
        let data = match shape.as_slice() {
            &[rows, cols] => {
                let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
                TensorData::Packed(repack(WeightFormat::F32, rows, cols, &bytes)?)
            }
            _ => TensorData::F32(values.clone()),
        };
        Ok(Some(SourceTensor {
            shape: shape.clone(),
            data,
        }))
    };
    let gpu = gpu();
    let packed = pollster::block_on(FluxTransformer::load(
        &gpu,
        config.clone(),
        &mut packed_source,
    ))
    .unwrap();
    let plain = pollster::block_on(FluxTransformer::load(
        &gpu,
        config.clone(),
        &mut weights.clone(),
    ))
    .unwrap();
    let inputs = StepInputs::random(&config, 10);
    assert_eq!(
        gpu_forward(&gpu, &packed, &inputs, None).unwrap(),
        gpu_forward(&gpu, &plain, &inputs, None).unwrap()
    );
}

#[test]
fn inputs_of_the_wrong_shape_are_refused() {
    let config = FluxConfig::tiny(false);
    let gpu = gpu();
    let model = pollster::block_on(FluxTransformer::load(
        &gpu,
        config.clone(),
        &mut random_weights(&config, 13),
    ))
    .unwrap();
    // Positions for one image token fewer than the image has.
    let positions = model
        .positions(
            &gpu,
            &text_ids(TEXT_TOKENS),
            &image_ids(IMAGE_ROWS, IMAGE_COLS)[3..],
        )
        .unwrap();
    let inputs = StepInputs::random(&config, 14);
    let image_tokens = IMAGE_ROWS * IMAGE_COLS;
    let img = Tensor::from_slice(&gpu, &inputs.img, &[image_tokens, config.in_channels]).unwrap();
    let txt = Tensor::from_slice(&gpu, &inputs.txt, &[TEXT_TOKENS, config.context_in_dim]).unwrap();
    let y = Tensor::from_slice(&gpu, &inputs.y, &[config.vec_in_dim]).unwrap();
    let error = model
        .forward(
            &gpu,
            &FluxInputs {
                img: &img,
                txt: &txt,
                positions: &positions,
                timestep: TIMESTEP,
                y: &y,
                guidance: None,
            },
        )
        .expect_err("an image of more tokens than its positions is refused");
    assert!(
        matches!(&error, FluxError::Input(message) if message.contains("img")),
        "{error}"
    );
    // Ids that do not make whole [tokens, 3] rows.
    let error = model
        .positions(&gpu, &text_ids(TEXT_TOKENS), &[0.0, 1.0])
        .err()
        .expect("ids of a partial token are refused");
    assert!(matches!(error, FluxError::Input(_)), "{error}");
}

/// The tensors city96's GGUF files keep in F32 besides the 1-D ones: the
/// input embedders and the final layer (under BFL's and diffusers' names).
fn kept_f32_in_gguf(name: &str) -> bool {
    [
        "img_in",
        "txt_in",
        "time_in",
        "vector_in",
        "guidance_in",
        "final_layer",
        "x_embedder",
        "context_embedder",
        "time_text_embed",
        "norm_out",
        "proj_out",
    ]
    .iter()
    .any(|prefix| name.starts_with(prefix))
}

/// The weights of a file as the loader must see them, with the file's bytes.
struct WrittenFile {
    bytes: Vec<u8>,
    /// The f32 values the file's tensors decode to.
    weights: Weights,
}

/// A safetensors file of every tensor in BF16, and the weights rounded to it.
fn bf16_safetensors(weights: &Weights) -> WrittenFile {
    let mut rounded = Weights::new();
    let mut stored: Vec<(String, Vec<u64>, Vec<u8>)> = Vec::new();
    for (name, (shape, values)) in weights {
        let bf16: Vec<half::bf16> = values.iter().map(|&v| half::bf16::from_f32(v)).collect();
        rounded.insert(
            name.clone(),
            (shape.clone(), bf16.iter().map(|v| v.to_f32()).collect()),
        );
        let bytes = bf16.iter().flat_map(|v| v.to_le_bytes()).collect();
        stored.push((
            name.clone(),
            shape.iter().map(|&d| d as u64).collect(),
            bytes,
        ));
    }
    let tensors: Vec<TensorToWrite> = stored
        .iter()
        .map(|(name, shape, bytes)| TensorToWrite {
            name,
            shape,
            encoding: Encoding::Plain(Dtype::BF16),
            bytes,
        })
        .collect();
    WrittenFile {
        bytes: safetensors_bytes(&tensors, &BTreeMap::new()).unwrap(),
        weights: rounded,
    }
}

/// A GGUF file as city96 lays them out: the blocks' matrices quantized to
/// Q8_0 by candle, the rest F32; and the weights candle dequantizes them to.
fn q8_0_gguf(weights: &Weights) -> WrittenFile {
    use candle_core::quantized::{GgmlDType, QTensor};
    let mut decoded = Weights::new();
    let mut stored: Vec<(String, Vec<u64>, Encoding, Vec<u8>)> = Vec::new();
    for (name, (shape, values)) in weights {
        let dims: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
        if shape.len() == 2 && !kept_f32_in_gguf(name) {
            let tensor =
                candle_core::Tensor::from_slice(values, shape.as_slice(), &Device::Cpu).unwrap();
            let quantized = QTensor::quantize(&tensor, GgmlDType::Q8_0).unwrap();
            let dequantized = quantized.dequantize(&Device::Cpu).unwrap();
            decoded.insert(
                name.clone(),
                (
                    shape.clone(),
                    dequantized.flatten_all().unwrap().to_vec1().unwrap(),
                ),
            );
            let bytes = quantized.data().unwrap().to_vec();
            stored.push((
                name.clone(),
                dims,
                Encoding::Quantized(WeightFormat::Q8_0),
                bytes,
            ));
        } else {
            decoded.insert(name.clone(), (shape.clone(), values.clone()));
            let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            stored.push((name.clone(), dims, Encoding::Plain(Dtype::F32), bytes));
        }
    }
    let tensors: Vec<TensorToWrite> = stored
        .iter()
        .map(|(name, shape, encoding, bytes)| TensorToWrite {
            name,
            shape,
            encoding: *encoding,
            bytes,
        })
        .collect();
    WrittenFile {
        bytes: gguf_bytes(&[], &tensors).unwrap(),
        weights: decoded,
    }
}

/// Loads the model from `file` through [`FileWeights`] in slabs of 1 KiB and
/// checks its prediction against candle's with the weights the file decodes to.
fn file_matches_candle(file: WrittenFile, name: &str, guidance_embed: bool) {
    file_matches_candle_as(file, name, guidance_embed, false);
}

fn file_matches_candle_as(file: WrittenFile, name: &str, guidance_embed: bool, diffusers: bool) {
    let config = FluxConfig::tiny(guidance_embed);
    let guidance = guidance_embed.then_some(GUIDANCE);
    let inputs = StepInputs::random(&config, 16);
    let want = reference_forward(
        &config,
        &reference_model(&config, &file.weights),
        &inputs,
        guidance,
    );
    let gpu = gpu();
    let mut source = pollster::block_on(FileWeights::open(MemorySource::new(name, file.bytes)))
        .unwrap()
        .with_slab_bytes(1024);
    let model = if diffusers {
        let mut source = DiffusersNames::new(source);
        pollster::block_on(FluxTransformer::load(&gpu, config, &mut source)).unwrap()
    } else {
        pollster::block_on(FluxTransformer::load(&gpu, config, &mut source)).unwrap()
    };
    let got = gpu_forward(&gpu, &model, &inputs, guidance).unwrap();
    assert_close(name, &got, &want, TOLERANCE);
}

#[test]
fn a_bf16_safetensors_file_matches_candle() {
    let config = FluxConfig::tiny(true);
    let file = bf16_safetensors(&random_weights(&config, 15));
    file_matches_candle(file, "tiny-bf16.safetensors", true);
}

#[test]
fn a_q8_0_gguf_file_matches_candle() {
    let config = FluxConfig::tiny(false);
    let file = q8_0_gguf(&random_weights(&config, 17));
    file_matches_candle(file, "tiny-Q8_0.gguf", false);
}

/// The BFL checkpoint renamed and split as diffusers'
/// `FluxTransformer2DModel` stores it, written out by hand here (rather than
/// through the loader's own table) so that the test checks the table.
fn to_diffusers(weights: &Weights, config: &FluxConfig) -> Weights {
    let h = config.hidden_size;
    let mut out = Weights::new();
    let mut put = |name: String, shape: Vec<usize>, values: Vec<f32>| {
        assert!(out.insert(name, (shape, values)).is_none());
    };
    for (name, (shape, values)) in weights {
        let (layer, suffix) = name.rsplit_once('.').unwrap();
        let cols: usize = shape[1..].iter().product();
        // Rows `from..to` of the tensor as a tensor of its own.
        let rows = |from: usize, to: usize| {
            let mut part_shape = shape.clone();
            part_shape[0] = to - from;
            (part_shape, values[from * cols..to * cols].to_vec())
        };
        let p: Vec<&str> = layer.split('.').collect();
        match p.as_slice() {
            ["img_in"] => put(
                format!("x_embedder.{suffix}"),
                shape.clone(),
                values.clone(),
            ),
            ["txt_in"] => put(
                format!("context_embedder.{suffix}"),
                shape.clone(),
                values.clone(),
            ),
            [embedder, which] if embedder.ends_with("_in") => {
                let embedder = match *embedder {
                    "time_in" => "timestep_embedder",
                    "vector_in" => "text_embedder",
                    "guidance_in" => "guidance_embedder",
                    other => panic!("{other}"),
                };
                let linear = if *which == "in_layer" {
                    "linear_1"
                } else {
                    "linear_2"
                };
                put(
                    format!("time_text_embed.{embedder}.{linear}.{suffix}"),
                    shape.clone(),
                    values.clone(),
                );
            }
            ["double_blocks", i, stream_part, rest @ ..] => {
                let b = format!("transformer_blocks.{i}");
                let img = stream_part.starts_with("img");
                let part = stream_part.split_once('_').unwrap().1;
                match (part, rest) {
                    ("mod", ["lin"]) => {
                        let norm = if img { "norm1" } else { "norm1_context" };
                        put(
                            format!("{b}.{norm}.linear.{suffix}"),
                            shape.clone(),
                            values.clone(),
                        );
                    }
                    ("attn", ["qkv"]) => {
                        let names = if img {
                            ["to_q", "to_k", "to_v"]
                        } else {
                            ["add_q_proj", "add_k_proj", "add_v_proj"]
                        };
                        for (k, proj) in names.iter().enumerate() {
                            let (s, v) = rows(k * h, (k + 1) * h);
                            put(format!("{b}.attn.{proj}.{suffix}"), s, v);
                        }
                    }
                    ("attn", ["proj"]) => {
                        let out_name = if img { "to_out.0" } else { "to_add_out" };
                        put(
                            format!("{b}.attn.{out_name}.{suffix}"),
                            shape.clone(),
                            values.clone(),
                        );
                    }
                    ("attn", ["norm", which]) => {
                        let q = *which == "query_norm";
                        let norm = match (img, q) {
                            (true, true) => "norm_q",
                            (true, false) => "norm_k",
                            (false, true) => "norm_added_q",
                            (false, false) => "norm_added_k",
                        };
                        put(
                            format!("{b}.attn.{norm}.weight"),
                            shape.clone(),
                            values.clone(),
                        );
                    }
                    ("mlp", [index]) => {
                        let ff = if img { "ff" } else { "ff_context" };
                        let layer = if *index == "0" { "net.0.proj" } else { "net.2" };
                        put(
                            format!("{b}.{ff}.{layer}.{suffix}"),
                            shape.clone(),
                            values.clone(),
                        );
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
            ["single_blocks", i, rest @ ..] => {
                let b = format!("single_transformer_blocks.{i}");
                match rest {
                    ["modulation", "lin"] => put(
                        format!("{b}.norm.linear.{suffix}"),
                        shape.clone(),
                        values.clone(),
                    ),
                    ["linear1"] => {
                        for (k, proj) in ["attn.to_q", "attn.to_k", "attn.to_v"].iter().enumerate()
                        {
                            let (s, v) = rows(k * h, (k + 1) * h);
                            put(format!("{b}.{proj}.{suffix}"), s, v);
                        }
                        let (s, v) = rows(3 * h, shape[0]);
                        put(format!("{b}.proj_mlp.{suffix}"), s, v);
                    }
                    ["linear2"] => put(
                        format!("{b}.proj_out.{suffix}"),
                        shape.clone(),
                        values.clone(),
                    ),
                    ["norm", which] => {
                        let norm = if *which == "query_norm" {
                            "norm_q"
                        } else {
                            "norm_k"
                        };
                        put(
                            format!("{b}.attn.{norm}.weight"),
                            shape.clone(),
                            values.clone(),
                        );
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
            ["final_layer", "adaLN_modulation", "1"] => {
                // diffusers' AdaLayerNormContinuous emits (scale, shift).
                let (_, shift) = rows(0, h);
                let (_, scale) = rows(h, 2 * h);
                put(
                    format!("norm_out.linear.{suffix}"),
                    shape.clone(),
                    [scale, shift].concat(),
                );
            }
            ["final_layer", "linear"] => {
                put(format!("proj_out.{suffix}"), shape.clone(), values.clone())
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    out
}

/// A safetensors file of every tensor in F32.
fn f32_safetensors(weights: &Weights) -> Vec<u8> {
    let tensors = weights
        .iter()
        .map(|(name, (shape, values))| (name.as_str(), shape.as_slice(), values.as_slice()));
    f32_safetensors_bytes(tensors).unwrap()
}

#[test]
fn diffusers_names_in_safetensors_match_candle() {
    let config = FluxConfig::tiny(true);
    let weights = random_weights(&config, 18);
    let file = WrittenFile {
        bytes: f32_safetensors(&to_diffusers(&weights, &config)),
        weights,
    };
    file_matches_candle_as(file, "diffusers.safetensors", true, true);
}

#[test]
fn diffusers_names_in_q8_0_gguf_match_candle() {
    // Q8_0 blocks run along rows, so quantizing q, k and v apart gives the
    // blocks of quantizing the joined qkv: the reference is the BFL
    // checkpoint quantized whole.
    let config = FluxConfig::tiny(false);
    let weights = random_weights(&config, 19);
    let reference = q8_0_gguf(&weights).weights;
    let mut file = q8_0_gguf(&to_diffusers(&weights, &config));
    file.weights = reference;
    file_matches_candle_as(file, "diffusers-Q8_0.gguf", false, true);
}
