//! The FLUX autoencoder on the GPU against candle-transformers' FLUX
//! autoencoder on the CPU, at the tiny configuration (FLUX's structure:
//! four levels, so images are 8× their latents) and, for the decoder on a
//! 2×2 latent, at FLUX's own widths, with the same random weights and
//! inputs.
//!
//! Tolerance: 1e-4 of the output's largest magnitude, per element. Both
//! sides compute in f32 and differ by rounding only: the GPU sums the
//! convolutions' 9 · C_in products, GroupNorm's statistics and the
//! attention's dot products in another order (and GroupNorm in chunks
//! merged by Welford's rule), its exp in SiLU and softmax is a few ULP off
//! the CPU's, and the online softmax rescales partial sums. Each of these
//! is ~1e-7 to 1e-6 relative; through the ~20 layers of the tiny decoder
//! or encoder, each resnet block adding to its input, they stay at a few
//! 1e-6 of the output's scale (observed on lavapipe: 2.4e-6 to 4.7e-6 at
//! the tiny size, 8.6e-6 for the FLUX-sized decoder, whose convolutions sum
//! up to 4608 products; each run prints its own). A bug is orders of magnitude off: a transposed
//! `proj_out` gives 0.46 of the decoder's output scale, the downsampler's
//! padding at the top-left instead of the bottom-right 0.96 of the
//! encoder's. An element-relative
//! bound would be meaningless for outputs near zero, hence one relative to
//! the output's scale.
//!
//! Run natively: `XDG_RUNTIME_DIR=/tmp/xdg cargo test -p sculpt-flux`.

#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::{assert_close, gpu, random, read};
use sculpt_flux::weights::LoadError;
use std::collections::HashMap;

use candle_core::{DType, Device, Module};
use candle_transformers::models::flux::autoencoder as reference;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sculpt_flux::models::autoencoder::{AutoEncoderConfig, Decoder, Encoder};
use sculpt_flux::models::flux1::FluxError;
use sculpt_gpu::{Gpu, GpuOptions, Tensor};

type Weights = HashMap<String, (Vec<usize>, Vec<f32>)>;

/// Largest allowed |gpu − cpu| over the largest |cpu| of the output.
const TOLERANCE: f32 = 1e-4;

/// Latents the decoder is checked on, and (8× larger) images the encoder
/// is checked on: square and not, odd and even sides. Not 4×4: candle
/// 0.9.2's CPU conv2d (`conv2d_tiled`) mistakes a contiguous NCHW input
/// whose height, width and channels are equal for an NHWC one and returns
/// wrong values (huggingface/candle#3404), and a 4×4 latent puts 32 channels
/// at 32×32 in the tiny decoder and encoder. Checked at 32×32 against a
/// plain loop convolution, sculpt's conv2d is right and candle's is off by
/// the whole output's scale.
const LATENT_SIZES: [(usize, usize); 2] = [(3, 3), (6, 5)];

/// Every tensor of a FLUX autoencoder checkpoint for `config`, by BFL name,
/// with its shape, written out from BFL's module tree independently of the
/// model's loader.
fn checkpoint_layout(config: &AutoEncoderConfig) -> Vec<(String, Vec<usize>)> {
    let mut tensors = Vec::new();
    let mut conv = |name: String, inputs: usize, outputs: usize, kernel: usize| {
        tensors.push((
            format!("{name}.weight"),
            vec![outputs, inputs, kernel, kernel],
        ));
        tensors.push((format!("{name}.bias"), vec![outputs]));
    };
    let mut norms = Vec::new();
    let resnet = |conv: &mut dyn FnMut(String, usize, usize, usize),
                  norms: &mut Vec<(String, usize)>,
                  name: String,
                  inputs: usize,
                  outputs: usize| {
        norms.push((format!("{name}.norm1"), inputs));
        conv(format!("{name}.conv1"), inputs, outputs, 3);
        norms.push((format!("{name}.norm2"), outputs));
        conv(format!("{name}.conv2"), outputs, outputs, 3);
        if inputs != outputs {
            conv(format!("{name}.nin_shortcut"), inputs, outputs, 1);
        }
    };
    let channels = |level: usize| config.ch * config.ch_mult[level];
    let levels = config.ch_mult.len();
    let bottom = channels(levels - 1);
    let mid = |conv: &mut dyn FnMut(String, usize, usize, usize),
               norms: &mut Vec<(String, usize)>,
               half: &str| {
        resnet(conv, norms, format!("{half}.mid.block_1"), bottom, bottom);
        norms.push((format!("{half}.mid.attn_1.norm"), bottom));
        for projection in ["q", "k", "v", "proj_out"] {
            conv(format!("{half}.mid.attn_1.{projection}"), bottom, bottom, 1);
        }
        resnet(conv, norms, format!("{half}.mid.block_2"), bottom, bottom);
    };

    // Encoder.
    conv("encoder.conv_in".into(), config.in_channels, config.ch, 3);
    let mut width = config.ch;
    for level in 0..levels {
        for block in 0..config.num_res_blocks {
            let name = format!("encoder.down.{level}.block.{block}");
            resnet(&mut conv, &mut norms, name, width, channels(level));
            width = channels(level);
        }
        if level + 1 < levels {
            conv(
                format!("encoder.down.{level}.downsample.conv"),
                width,
                width,
                3,
            );
        }
    }
    mid(&mut conv, &mut norms, "encoder");
    norms.push(("encoder.norm_out".into(), bottom));
    conv("encoder.conv_out".into(), bottom, 2 * config.z_channels, 3);

    // Decoder.
    conv("decoder.conv_in".into(), config.z_channels, bottom, 3);
    mid(&mut conv, &mut norms, "decoder");
    let mut width = bottom;
    for level in (0..levels).rev() {
        for block in 0..=config.num_res_blocks {
            let name = format!("decoder.up.{level}.block.{block}");
            resnet(&mut conv, &mut norms, name, width, channels(level));
            width = channels(level);
        }
        if level > 0 {
            conv(format!("decoder.up.{level}.upsample.conv"), width, width, 3);
        }
    }
    norms.push(("decoder.norm_out".into(), width));
    conv("decoder.conv_out".into(), width, config.out_channels, 3);

    for (name, width) in norms {
        tensors.push((format!("{name}.weight"), vec![width]));
        tensors.push((format!("{name}.bias"), vec![width]));
    }
    tensors
}

/// Random weights scaled like PyTorch's default init, U(±1/√fan_in) for
/// convolution kernels and biases (fan_in = C_in · k²), and GroupNorm
/// scales around their init of 1 with small shifts, so that activations
/// stay O(1) through the blocks.
fn random_weights(config: &AutoEncoderConfig, seed: u64) -> Weights {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let layout = checkpoint_layout(config);
    let fan_in: HashMap<String, usize> = layout
        .iter()
        .filter_map(|(name, shape)| {
            let layer = name.strip_suffix(".weight")?;
            (shape.len() == 4).then(|| (layer.to_string(), shape[1..].iter().product()))
        })
        .collect();
    layout
        .into_iter()
        .map(|(name, shape)| {
            let len = shape.iter().product();
            let layer = name.rsplit_once('.').expect("a layer's tensor").0;
            let values = match fan_in.get(layer) {
                Some(&fan_in) => random(&mut rng, len, 0.0, 1.0 / (fan_in as f32).sqrt()),
                None if name.ends_with(".weight") => random(&mut rng, len, 1.0, 0.25),
                None => random(&mut rng, len, 0.0, 0.1),
            };
            (name, (shape, values))
        })
        .collect()
}

fn reference_config(config: &AutoEncoderConfig) -> reference::Config {
    reference::Config {
        resolution: 256,
        in_channels: config.in_channels,
        ch: config.ch,
        out_ch: config.out_channels,
        ch_mult: config.ch_mult.clone(),
        num_res_blocks: config.num_res_blocks,
        z_channels: config.z_channels,
        scale_factor: config.scale_factor as f64,
        shift_factor: config.shift_factor as f64,
    }
}

fn var_builder(weights: &Weights) -> candle_nn::VarBuilder<'static> {
    let tensors = weights
        .iter()
        .map(|(name, (shape, values))| {
            let tensor = candle_core::Tensor::from_slice(values, shape.as_slice(), &Device::Cpu);
            (name.clone(), tensor.unwrap())
        })
        .collect();
    candle_nn::VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu)
}

fn cpu_tensor(values: &[f32], shape: &[usize]) -> candle_core::Tensor {
    let mut batched = vec![1];
    batched.extend_from_slice(shape);
    candle_core::Tensor::from_slice(values, batched.as_slice(), &Device::Cpu).unwrap()
}

fn to_vec(tensor: &candle_core::Tensor) -> Vec<f32> {
    tensor.flatten_all().unwrap().to_vec1().unwrap()
}

/// Loads the decoder from a copy of `weights` and checks it took exactly
/// the decoder's tensors.
fn load_decoder(gpu: &Gpu, config: &AutoEncoderConfig, weights: &Weights) -> Decoder {
    let mut source = weights.clone();
    let decoder = pollster::block_on(Decoder::load(gpu, config.clone(), &mut source)).unwrap();
    assert!(
        source.keys().all(|name| name.starts_with("encoder.")),
        "the decoder left decoder tensors unread"
    );
    decoder
}

fn load_encoder(gpu: &Gpu, config: &AutoEncoderConfig, weights: &Weights) -> Encoder {
    let mut source = weights.clone();
    let encoder = pollster::block_on(Encoder::load(gpu, config.clone(), &mut source)).unwrap();
    assert!(
        source.keys().all(|name| name.starts_with("decoder.")),
        "the encoder left encoder tensors unread"
    );
    encoder
}

#[test]
fn decoder_matches_candle() {
    let config = AutoEncoderConfig::tiny();
    let weights = random_weights(&config, 21);
    let vb = var_builder(&weights);
    let reference_decoder =
        reference::Decoder::new(&reference_config(&config), vb.pp("decoder")).unwrap();
    let gpu = gpu();
    let decoder = load_decoder(&gpu, &config, &weights);
    let mut rng = ChaCha8Rng::seed_from_u64(22);
    // Square and non-square, odd and even latent sides (see SIZES).
    for (height, width) in LATENT_SIZES {
        let shape = [config.z_channels, height, width];
        let z = random(&mut rng, shape.iter().product(), 0.0, 1.0);
        let want = reference_decoder.forward(&cpu_tensor(&z, &shape)).unwrap();
        assert_eq!(want.dims(), [1, 3, 8 * height, 8 * width]);
        let got = decoder
            .forward(&gpu, &Tensor::from_slice(&gpu, &z, &shape).unwrap())
            .unwrap();
        assert_eq!(got.shape(), [3, 8 * height, 8 * width]);
        assert_close(
            &format!("decoder {height}×{width}"),
            &read(&gpu, &got),
            &to_vec(&want),
            TOLERANCE,
        );
    }
}

#[test]
fn decode_unscales_the_latent_like_candle() {
    let config = AutoEncoderConfig::tiny();
    let weights = random_weights(&config, 23);
    let reference_autoencoder =
        reference::AutoEncoder::new(&reference_config(&config), var_builder(&weights)).unwrap();
    let gpu = gpu();
    let decoder = load_decoder(&gpu, &config, &weights);
    let shape = [config.z_channels, 3, 4];
    let latent = random(
        &mut ChaCha8Rng::seed_from_u64(24),
        shape.iter().product(),
        0.0,
        1.0,
    );
    let want = reference_autoencoder
        .decode(&cpu_tensor(&latent, &shape))
        .unwrap();
    let got = decoder
        .decode(&gpu, &Tensor::from_slice(&gpu, &latent, &shape).unwrap())
        .unwrap();
    assert_close("decode 3×4", &read(&gpu, &got), &to_vec(&want), TOLERANCE);
}

#[test]
fn encoder_matches_candle() {
    let config = AutoEncoderConfig::tiny();
    let weights = random_weights(&config, 25);
    let vb = var_builder(&weights);
    let reference_encoder =
        reference::Encoder::new(&reference_config(&config), vb.pp("encoder")).unwrap();
    let gpu = gpu();
    let encoder = load_encoder(&gpu, &config, &weights);
    let mut rng = ChaCha8Rng::seed_from_u64(26);
    let z = config.z_channels;
    for (height, width) in LATENT_SIZES.map(|(h, w)| (8 * h, 8 * w)) {
        let shape = [config.in_channels, height, width];
        let image = random(&mut rng, shape.iter().product(), 0.0, 1.0);
        let moments = reference_encoder
            .forward(&cpu_tensor(&image, &shape))
            .unwrap();
        assert_eq!(moments.dims(), [1, 2 * z, height / 8, width / 8]);
        // candle's encoder gives mean and log-variance; ours the mean.
        let want_mean = to_vec(&moments.narrow(1, 0, z).unwrap());
        let image = Tensor::from_slice(&gpu, &image, &shape).unwrap();
        let mean = encoder.forward(&gpu, &image).unwrap();
        assert_eq!(mean.shape(), [z, height / 8, width / 8]);
        let what = format!("encoder {height}×{width}");
        assert_close(&what, &read(&gpu, &mean), &want_mean, TOLERANCE);

        // encode = (mean − shift) · scale, as candle's AutoEncoder::encode
        // computes it of a sample.
        let want_latent: Vec<f32> = want_mean
            .iter()
            .map(|m| (m - config.shift_factor) * config.scale_factor)
            .collect();
        let latent = encoder.encode(&gpu, &image).unwrap();
        assert_close(
            &format!("{what}, scaled"),
            &read(&gpu, &latent),
            &want_latent,
            TOLERANCE,
        );
    }
}

#[test]
fn a_missing_tensor_is_named() {
    let config = AutoEncoderConfig::tiny();
    let gpu = gpu();
    for name in [
        "decoder.up.1.upsample.conv.weight",
        "decoder.mid.attn_1.k.bias",
        "encoder.down.0.downsample.conv.weight",
        "encoder.conv_out.bias",
    ] {
        let mut weights = random_weights(&config, 27);
        weights.remove(name).unwrap();
        let error = if name.starts_with("decoder.") {
            pollster::block_on(Decoder::load(&gpu, config.clone(), &mut weights)).err()
        } else {
            pollster::block_on(Encoder::load(&gpu, config.clone(), &mut weights)).err()
        }
        .expect("loading without a tensor fails");
        assert!(
            matches!(&error, FluxError::Load(LoadError::MissingTensor { name: missing, .. }) if missing == name),
            "{error}"
        );
        assert!(error.to_string().contains(name), "{error}");
    }
}

#[test]
fn a_misshaped_tensor_is_named() {
    let config = AutoEncoderConfig::tiny();
    let mut weights = random_weights(&config, 28);
    let name = "decoder.mid.attn_1.q.weight";
    // The 1×1 kernel as a matrix: as many values, the wrong shape.
    let (shape, _) = weights.get_mut(name).unwrap();
    shape.truncate(2);
    let gpu = gpu();
    let error = pollster::block_on(Decoder::load(&gpu, config, &mut weights))
        .err()
        .expect("loading a kernel of the wrong shape fails");
    assert!(
        matches!(&error, FluxError::Load(LoadError::TensorShape { name: misshaped, .. }) if misshaped == name),
        "{error}"
    );
}

#[test]
fn repeated_decode_and_encode_create_no_buffers_or_pipelines() {
    let config = AutoEncoderConfig::tiny();
    let weights = random_weights(&config, 29);
    let gpu = gpu();
    let decoder = load_decoder(&gpu, &config, &weights);
    let encoder = load_encoder(&gpu, &config, &weights);
    let shape = [config.z_channels, 4, 4];
    let latent = random(
        &mut ChaCha8Rng::seed_from_u64(30),
        shape.iter().product(),
        0.0,
        1.0,
    );
    let round_trip = || {
        let latent = Tensor::from_slice(&gpu, &latent, &shape).unwrap();
        let image = decoder.decode(&gpu, &latent).unwrap();
        let again = encoder.encode(&gpu, &image).unwrap();
        (read(&gpu, &image), read(&gpu, &again))
    };
    let first = round_trip();
    let before = gpu.stats();
    let second = round_trip();
    let during = gpu.stats() - before;
    assert_eq!(during.buffers_created, 0, "{during:?}");
    assert_eq!(during.pipelines_created, 0, "{during:?}");
    assert!(during.dispatches > 0, "{during:?}");
    assert_eq!(first, second, "the same latent gives the same image");
}

/// A device whose storage bindings hold at most `bytes`, whatever the
/// adapter offers.
fn gpu_with_binding(bytes: u64) -> Gpu {
    let options = GpuOptions {
        max_storage_binding: Some(bytes),
        ..GpuOptions::default()
    };
    pollster::block_on(Gpu::with_options(options)).expect("a GPU device for this test")
}

/// 160 KiB: just above the tiny autoencoder's largest weight tensor
/// (64 · 64 · 3 · 3 f32, 144 KiB), well below its widest activations.
const SMALL_BINDING: u64 = 160 << 10;

#[test]
fn activations_larger_than_a_binding_are_cut_into_channel_slices() {
    // On a 6×5 latent (48×40 pixels) the decoder's widest activation, level
    // 1's 64 channels upsampled to full size, takes 480 KiB and level 0's
    // 32 channels 240 KiB: 4 and 2 slices of a 160 KiB binding. The encoder
    // meets the same sizes on its way down.
    let config = AutoEncoderConfig::tiny();
    let weights = random_weights(&config, 34);
    let vb = var_builder(&weights);
    let reference_decoder =
        reference::Decoder::new(&reference_config(&config), vb.pp("decoder")).unwrap();
    let reference_encoder =
        reference::Encoder::new(&reference_config(&config), vb.pp("encoder")).unwrap();
    let gpu = gpu_with_binding(SMALL_BINDING);
    assert_eq!(
        gpu.device.limits().max_storage_buffer_binding_size,
        SMALL_BINDING
    );
    let (height, width) = (6, 5);
    assert!(
        Tensor::uninit(&gpu, &[64, 8 * height, 8 * width]).is_err(),
        "the widest activation would fit one binding: the test checks nothing"
    );
    let decoder = load_decoder(&gpu, &config, &weights);
    let encoder = load_encoder(&gpu, &config, &weights);
    let mut rng = ChaCha8Rng::seed_from_u64(35);

    let latent_shape = [config.z_channels, height, width];
    let z = random(&mut rng, latent_shape.iter().product(), 0.0, 1.0);
    let image_shape = [config.in_channels, 8 * height, 8 * width];
    let image = random(&mut rng, image_shape.iter().product(), 0.0, 1.0);
    let round = || {
        let latent = Tensor::from_slice(&gpu, &z, &latent_shape).unwrap();
        let decoded = read(&gpu, &decoder.forward(&gpu, &latent).unwrap());
        let image = Tensor::from_slice(&gpu, &image, &image_shape).unwrap();
        let mean = read(&gpu, &encoder.forward(&gpu, &image).unwrap());
        (decoded, mean)
    };
    let first = round();

    let want = reference_decoder
        .forward(&cpu_tensor(&z, &latent_shape))
        .unwrap();
    assert_close("sliced decoder 6×5", &first.0, &to_vec(&want), TOLERANCE);
    let moments = reference_encoder
        .forward(&cpu_tensor(&image, &image_shape))
        .unwrap();
    let want_mean = to_vec(&moments.narrow(1, 0, config.z_channels).unwrap());
    assert_close("sliced encoder 48×40", &first.1, &want_mean, TOLERANCE);

    // Slicing keeps the steady state: no new buffers or pipelines.
    let before = gpu.stats();
    let second = round();
    let during = gpu.stats() - before;
    assert_eq!(during.buffers_created, 0, "{during:?}");
    assert_eq!(during.pipelines_created, 0, "{during:?}");
    assert_eq!(first, second, "the same inputs give the same outputs");
}

#[test]
fn an_activation_no_slicing_can_fit_is_refused_by_name() {
    // At a 20×20 latent, level 0 holds 64 channels of 160×160 pixels: even
    // its finest cut, 32 slices of two channels, takes 200 KiB.
    let config = AutoEncoderConfig::tiny();
    let weights = random_weights(&config, 36);
    let gpu = gpu_with_binding(SMALL_BINDING);
    let decoder = load_decoder(&gpu, &config, &weights);
    let z = Tensor::from_slice(&gpu, &[0.5; 16 * 20 * 20], &[16, 20, 20]).unwrap();
    let error = decoder
        .forward(&gpu, &z)
        .expect_err("an activation that cannot fit is refused");
    let message = error.to_string();
    assert!(message.contains("[64, 160, 160]"), "{message}");
    assert!(message.contains("32 channel slices"), "{message}");
}

#[test]
fn inputs_of_the_wrong_shape_are_refused() {
    let config = AutoEncoderConfig::tiny();
    let weights = random_weights(&config, 31);
    let gpu = gpu();
    let decoder = load_decoder(&gpu, &config, &weights);
    let encoder = load_encoder(&gpu, &config, &weights);
    let three_channel_latent = Tensor::from_slice(&gpu, &[0.0; 3 * 4 * 4], &[3, 4, 4]).unwrap();
    let error = decoder
        .forward(&gpu, &three_channel_latent)
        .expect_err("a latent of the wrong width is refused");
    assert!(matches!(error, FluxError::Input(_)), "{error}");
    // 30 is not a multiple of the 8 pixels per latent pixel.
    let ragged_image = Tensor::from_slice(&gpu, &[0.0; 3 * 30 * 32], &[3, 30, 32]).unwrap();
    let error = encoder
        .forward(&gpu, &ragged_image)
        .expect_err("an image whose sides are not multiples of 8 is refused");
    assert!(matches!(error, FluxError::Input(_)), "{error}");
}

#[test]
fn checkpoint_layout_counts_the_flux_autoencoder_parameters() {
    // The size of BFL's ae.safetensors: the names and shapes the tests feed
    // both models are those of the real checkpoint at full size.
    let parameters: usize = checkpoint_layout(&AutoEncoderConfig::flux())
        .iter()
        .map(|(_, shape)| shape.iter().product::<usize>())
        .sum();
    assert_eq!(parameters, 83_819_683);
}

#[test]
fn flux_sized_decoder_matches_candle_on_a_small_latent() {
    // The released widths (128 to 512 channels, attention over one head of
    // 512), on a 2×2 latent so that the CPU reference stays quick; only the
    // decoder's 50 M weights are made.
    let config = AutoEncoderConfig::flux();
    let mut weights = random_weights(&config, 32);
    weights.retain(|name, _| name.starts_with("decoder."));
    let reference_decoder = reference::Decoder::new(
        &reference_config(&config),
        var_builder(&weights).pp("decoder"),
    )
    .unwrap();
    let gpu = gpu();
    let decoder = pollster::block_on(Decoder::load(&gpu, config.clone(), &mut weights)).unwrap();
    assert!(weights.is_empty(), "the decoder left tensors unread");
    let shape = [config.z_channels, 2, 2];
    let z = random(
        &mut ChaCha8Rng::seed_from_u64(33),
        shape.iter().product(),
        0.0,
        1.0,
    );
    let want = reference_decoder.forward(&cpu_tensor(&z, &shape)).unwrap();
    let got = decoder
        .forward(&gpu, &Tensor::from_slice(&gpu, &z, &shape).unwrap())
        .unwrap();
    assert_eq!(got.shape(), [3, 16, 16]);
    assert_close(
        "FLUX-sized decoder 2×2",
        &read(&gpu, &got),
        &to_vec(&want),
        TOLERANCE,
    );
}

/// The BFL checkpoint renamed as diffusers' `AutoencoderKL` stores it,
/// written out here by hand: the decoder's levels counted from the top, the
/// mid attention's 1×1 convolutions as linears.
fn to_diffusers(weights: &Weights, levels: usize) -> Weights {
    weights
        .iter()
        .map(|(name, (shape, values))| {
            let (half, rest) = name.split_once('.').unwrap();
            let p: Vec<&str> = rest.split('.').collect();
            let resnet = |layer: &str| {
                if layer == "nin_shortcut" {
                    "conv_shortcut".to_string()
                } else {
                    layer.to_string()
                }
            };
            let mut shape = shape.clone();
            let renamed = match p.as_slice() {
                [layer @ ("conv_in" | "conv_out"), s] => format!("{layer}.{s}"),
                ["norm_out", s] => format!("conv_norm_out.{s}"),
                ["mid", "block_1", l, s] => format!("mid_block.resnets.0.{}.{s}", resnet(l)),
                ["mid", "block_2", l, s] => format!("mid_block.resnets.1.{}.{s}", resnet(l)),
                ["mid", "attn_1", "norm", s] => format!("mid_block.attentions.0.group_norm.{s}"),
                ["mid", "attn_1", l, s] => {
                    if *s == "weight" {
                        shape.truncate(2);
                    }
                    let l = if *l == "proj_out" {
                        "to_out.0".to_string()
                    } else {
                        format!("to_{l}")
                    };
                    format!("mid_block.attentions.0.{l}.{s}")
                }
                ["down", i, "block", j, l, s] => {
                    format!("down_blocks.{i}.resnets.{j}.{}.{s}", resnet(l))
                }
                ["down", i, "downsample", "conv", s] => {
                    format!("down_blocks.{i}.downsamplers.0.conv.{s}")
                }
                ["up", i, "block", j, l, s] => {
                    let i = levels - 1 - i.parse::<usize>().unwrap();
                    format!("up_blocks.{i}.resnets.{j}.{}.{s}", resnet(l))
                }
                ["up", i, "upsample", "conv", s] => {
                    let i = levels - 1 - i.parse::<usize>().unwrap();
                    format!("up_blocks.{i}.upsamplers.0.conv.{s}")
                }
                other => panic!("unexpected {other:?}"),
            };
            (format!("{half}.{renamed}"), (shape, values.clone()))
        })
        .collect()
}

#[test]
fn diffusers_names_give_candles_decoder_and_encoder() {
    use sculpt_flux::models::autoencoder::DiffusersVaeNames;
    let config = AutoEncoderConfig::tiny();
    let weights = random_weights(&config, 41);
    let vb = var_builder(&weights);
    let reference_config = reference_config(&config);
    let reference_decoder = reference::Decoder::new(&reference_config, vb.pp("decoder")).unwrap();
    let reference_encoder = reference::Encoder::new(&reference_config, vb.pp("encoder")).unwrap();
    let diffusers = to_diffusers(&weights, config.ch_mult.len());
    assert!(diffusers.contains_key("decoder.up_blocks.0.resnets.1.conv2.weight"));
    let gpu = gpu();
    let mut source = DiffusersVaeNames::new(diffusers.clone(), config.ch_mult.len());
    let decoder = pollster::block_on(Decoder::load(&gpu, config.clone(), &mut source)).unwrap();
    let mut source = DiffusersVaeNames::new(diffusers, config.ch_mult.len());
    let encoder = pollster::block_on(Encoder::load(&gpu, config.clone(), &mut source)).unwrap();

    let mut rng = ChaCha8Rng::seed_from_u64(42);
    let shape = [config.z_channels, 6, 5];
    let z = random(&mut rng, shape.iter().product(), 0.0, 1.0);
    let want = reference_decoder.forward(&cpu_tensor(&z, &shape)).unwrap();
    let got = decoder
        .forward(&gpu, &Tensor::from_slice(&gpu, &z, &shape).unwrap())
        .unwrap();
    assert_close(
        "diffusers-named decoder",
        &read(&gpu, &got),
        &to_vec(&want),
        TOLERANCE,
    );

    let shape = [config.in_channels, 48, 40];
    let image = random(&mut rng, shape.iter().product(), 0.0, 1.0);
    let want = reference_encoder
        .forward(&cpu_tensor(&image, &shape))
        .unwrap();
    // candle's encoder returns mean and log-variance; the mean is the first half.
    let want = to_vec(&want);
    let got = read(
        &gpu,
        &encoder
            .forward(&gpu, &Tensor::from_slice(&gpu, &image, &shape).unwrap())
            .unwrap(),
    );
    assert_close(
        "diffusers-named encoder",
        &got,
        &want[..got.len()],
        TOLERANCE,
    );
}
