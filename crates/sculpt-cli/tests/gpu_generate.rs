//! `sculpt generate` end to end: a tiny random checkpoint (transformer,
//! autoencoder, CLIP, T5 and the test tokenizers) with its manifest is
//! written to a temporary folder, the binary generates 4 steps from it, and
//! the PNG must equal the same generation computed with candle-transformers
//! on the CPU: the same token ids, the same Philox noise (its CPU twin),
//! candle's CLIP, T5, FLUX, Euler `denoise` and autoencoder.
//!
//! Tolerance: at most 1 of 255 per channel. Both sides compute in f32 and
//! differ by rounding only (a few 1e-6 of each stage's scale, see the model
//! tests); a pixel can still land on the other side of a rounding boundary.
//! A wrong stage (a swapped modulation, a wrong schedule, other noise) moves
//! most pixels by tens.
//!
//! Run natively: `XDG_RUNTIME_DIR=/tmp/xdg cargo test -p sculpt-cli --test gpu_generate`.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use candle_core::{Device, Tensor};
use candle_transformers::models::{clip::text_model as clip_ref, flux, t5 as t5_ref};
use sculpt_flux::text::{ClipTokenizer, T5Tokenizer};

use common::tiny_model::*;
use common::{TempDir, var_builder, write_safetensors};

/// The whole generation on the CPU with candle: RGBA8 pixels.
/// An image-to-image start: RGBA8 pixels of the requested size and the
/// index in the schedule where it starts.
struct Start<'a> {
    rgba: &'a [u8],
    first_step: usize,
}

fn reference_image(
    configs: &Configs,
    model: &Model,
    guidance: Guidance,
    start: Option<Start>,
) -> Vec<u8> {
    let cpu = Device::Cpu;
    let clip_tokenizer = ClipTokenizer::from_json(&clip_tokenizer_json()).unwrap();
    let t5_json = std::fs::read(test_data("t5-synthetic.tokenizer.json")).unwrap();
    let t5_tokenizer = T5Tokenizer::from_json(&t5_json).unwrap();

    let c = &configs.clip;
    let clip = clip_ref::ClipTextTransformer::new(
        var_builder(&model.clip).pp("text_model"),
        &clip_ref::ClipTextConfig {
            vocab_size: c.vocab_size,
            embed_dim: c.hidden_size,
            activation: clip_ref::Activation::QuickGelu,
            intermediate_size: c.intermediate_size,
            max_position_embeddings: c.max_positions,
            pad_with: None,
            num_hidden_layers: c.num_layers,
            num_attention_heads: c.num_heads,
            projection_dim: c.hidden_size,
        },
    )
    .unwrap();
    let pooled = |prompt: &str| {
        let ids = clip_tokenizer.encode(prompt).unwrap().ids;
        let ids = Tensor::from_slice(&ids, (1, ids.len()), &cpu).unwrap();
        candle_core::Module::forward(&clip, &ids).unwrap()
    };

    let t = &configs.t5;
    let mut t5 = t5_ref::T5EncoderModel::load(
        var_builder(&model.t5),
        &t5_ref::Config {
            vocab_size: t.vocab_size,
            d_model: t.d_model,
            d_kv: t.d_kv,
            d_ff: t.d_ff,
            num_layers: t.num_layers,
            num_heads: t.num_heads,
            relative_attention_num_buckets: t.relative_attention_num_buckets,
            relative_attention_max_distance: t.relative_attention_max_distance,
            layer_norm_epsilon: 1e-6,
            feed_forward_proj: t5_ref::ActivationWithOptionalGating {
                gated: true,
                activation: candle_nn::Activation::NewGelu,
            },
            tie_word_embeddings: false,
            use_cache: false,
            ..t5_ref::Config::default()
        },
    )
    .unwrap();
    let mut states = |prompt: &str| {
        let ids = t5_tokenizer.encode(prompt, T5_LENGTH).unwrap().ids;
        let ids = Tensor::from_slice(&ids, (1, T5_LENGTH), &cpu).unwrap();
        t5.forward(&ids).unwrap()
    };
    let (txt, unconditional_txt) = (states(PROMPT), states(""));

    let f = &configs.transformer;
    let transformer = flux::model::Flux::new(
        &flux::model::Config {
            in_channels: f.in_channels,
            vec_in_dim: f.vec_in_dim,
            context_in_dim: f.context_in_dim,
            hidden_size: f.hidden_size,
            mlp_ratio: f.mlp_ratio,
            num_heads: f.num_heads,
            depth: f.double_blocks,
            depth_single_blocks: f.single_blocks,
            axes_dim: f.axes_dim.clone(),
            theta: f.theta as usize,
            qkv_bias: f.qkv_bias,
            guidance_embed: f.guidance_embed,
        },
        var_builder(&model.transformer),
    )
    .unwrap();
    let z = configs.autoencoder.z_channels;
    let noise_len = z * (HEIGHT / 8) * (WIDTH / 8);
    let noise = sculpt_gpu::kernels::noise::gaussian_cpu(SEED, noise_len);
    let noise = Tensor::from_vec(noise, (1, z, HEIGHT / 8, WIDTH / 8), &cpu).unwrap();
    let mut state = flux::sampling::State::new(&txt, &pooled(PROMPT), &noise).unwrap();
    let image_tokens = (HEIGHT / 16) * (WIDTH / 16);
    let shift = guidance.distilled.then_some((image_tokens, 0.5, 1.15));
    let mut schedule = flux::sampling::get_schedule(STEPS, shift);
    let a = &configs.autoencoder;
    let autoencoder_config = flux::autoencoder::Config {
        resolution: 256,
        in_channels: a.in_channels,
        ch: a.ch,
        out_ch: a.out_channels,
        ch_mult: a.ch_mult.clone(),
        num_res_blocks: a.num_res_blocks,
        z_channels: a.z_channels,
        scale_factor: a.scale_factor as f64,
        shift_factor: a.shift_factor as f64,
    };
    if let Some(start) = start {
        // candle's AutoEncoder::encode samples the latent Gaussian; Sculpt
        // takes its mean, so the encoder's mean is shifted and scaled here.
        let pixels = WIDTH * HEIGHT;
        let planes: Vec<f32> = (0..3)
            .flat_map(|c| (0..pixels).map(move |i| (c, i)))
            .map(|(c, i)| f32::from(start.rgba[4 * i + c]) / 127.5 - 1.0)
            .collect();
        let image = Tensor::from_vec(planes, (1, 3, HEIGHT, WIDTH), &cpu).unwrap();
        let encoder = flux::autoencoder::Encoder::new(
            &autoencoder_config,
            var_builder(&model.autoencoder).pp("encoder"),
        )
        .unwrap();
        let moments = candle_core::Module::forward(&encoder, &image).unwrap();
        let mean = moments.narrow(1, 0, z).unwrap();
        let clean = ((mean - a.shift_factor as f64).unwrap() * a.scale_factor as f64).unwrap();
        let clean = flux::sampling::State::new(&txt, &pooled(PROMPT), &clean)
            .unwrap()
            .img;
        let t = schedule[start.first_step];
        state.img = ((clean * (1.0 - t)).unwrap() + (&state.img * t).unwrap()).unwrap();
        schedule = schedule[start.first_step..].to_vec();
    }
    let tokens = match guidance.cfg {
        None => flux::sampling::denoise(
            &transformer,
            &state.img,
            &state.img_ids,
            &state.txt,
            &state.txt_ids,
            &state.vec,
            &schedule,
            guidance.embedded as f64,
        )
        .unwrap(),
        Some(scale) => {
            // candle has no true CFG: its Euler loop, with the two passes
            // combined as v_u + s·(v_c − v_u).
            use flux::WithForward;
            let unconditional_vec = pooled("");
            let embedded = Tensor::full(guidance.embedded, 1, &cpu).unwrap();
            let mut img = state.img.clone();
            for window in schedule.windows(2) {
                let (t, t_next) = (window[0], window[1]);
                let t_vec = Tensor::full(t as f32, 1, &cpu).unwrap();
                let predict = |txt: &Tensor, vec: &Tensor| {
                    transformer
                        .forward(
                            &img,
                            &state.img_ids,
                            txt,
                            &state.txt_ids,
                            &t_vec,
                            vec,
                            Some(&embedded),
                        )
                        .unwrap()
                };
                let conditional = predict(&state.txt, &state.vec);
                let unconditional = predict(&unconditional_txt, &unconditional_vec);
                let v = (&unconditional
                    + ((conditional - &unconditional).unwrap() * scale as f64).unwrap())
                .unwrap();
                img = (img + (v * (t_next - t)).unwrap()).unwrap();
            }
            img
        }
    };
    let latent = flux::sampling::unpack(&tokens, HEIGHT, WIDTH).unwrap();

    let autoencoder =
        flux::autoencoder::AutoEncoder::new(&autoencoder_config, var_builder(&model.autoencoder))
            .unwrap();
    let image = autoencoder.decode(&latent).unwrap();
    assert_eq!(image.dims(), [1, 3, HEIGHT, WIDTH]);
    let planes: Vec<f32> = image.flatten_all().unwrap().to_vec1().unwrap();
    let pixels = WIDTH * HEIGHT;
    let byte = |v: f32| ((v.clamp(-1.0, 1.0) + 1.0) * 127.5 + 0.5).floor() as u8;
    (0..pixels)
        .flat_map(|i| {
            [
                byte(planes[i]),
                byte(planes[pixels + i]),
                byte(planes[2 * pixels + i]),
                255,
            ]
        })
        .collect()
}

/// The PNG's RGBA8 pixels and tEXt chunks.
fn read_png(path: &Path) -> (usize, usize, Vec<u8>, BTreeMap<String, String>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buffer = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buffer).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgba);
    buffer.truncate(info.buffer_size());
    let text = reader
        .info()
        .uncompressed_latin1_text
        .iter()
        .map(|chunk| (chunk.keyword.clone(), chunk.text.clone()))
        .collect();
    (info.width as usize, info.height as usize, buffer, text)
}

/// Generates with the binary and compares with candle.
fn matches_candle(guidance: Guidance, name: &str, extra_args: &[&str]) {
    matches_candle_from(guidance, name, extra_args, None);
}

/// As [`matches_candle`], from a start image at `strength` when given.
fn matches_candle_from(
    guidance: Guidance,
    name: &str,
    extra_args: &[&str],
    start: Option<(&[u8], f32)>,
) {
    let configs = configs(guidance);
    let model = write_model(&configs, guidance, name);
    let out = model.dir.0.join("out.png");
    let steps_dir = model.dir.0.join("steps");
    let init_path = model.dir.0.join("init.png");
    let mut extra_args: Vec<String> = extra_args.iter().map(|arg| arg.to_string()).collect();
    // Steps skipped: floor((1 − strength) · steps).
    let first_step = start.map_or(0, |(_, strength)| {
        ((1.0 - strength) * STEPS as f32) as usize
    });
    if let Some((rgba, strength)) = start {
        write_rgba_png(&init_path, rgba);
        extra_args.extend([
            "--init-image".to_string(),
            init_path.display().to_string(),
            "--strength".to_string(),
            strength.to_string(),
        ]);
    }
    let output = Command::new(env!("CARGO_BIN_EXE_sculpt"))
        .args(["generate", "--model"])
        .arg(model.dir.0.join("manifest.json"))
        .args(["--prompt", PROMPT, "--steps", "4", "--seed", "7"])
        .args(["--width", "64", "--height", "48", "--out"])
        .arg(&out)
        .arg("--save-steps")
        .arg(&steps_dir)
        .args(&extra_args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let (width, height, pixels, text) = read_png(&out);
    assert_eq!((width, height), (WIDTH, HEIGHT));
    assert_eq!(text["prompt"], PROMPT);
    assert_eq!(text["seed"], "7");
    assert_eq!(text["steps"], "4");
    assert_eq!(text["model"], "tiny-test");
    for step in 1..=STEPS {
        let saved = steps_dir.join(format!("step-{step:02}.png")).exists();
        assert_eq!(saved, step <= STEPS - first_step, "step {step}");
    }

    let start = start.map(|(rgba, _)| Start { rgba, first_step });
    let want = reference_image(&configs, &model, guidance, start);
    let worst = pixels
        .iter()
        .zip(&want)
        .map(|(&a, &b)| a.abs_diff(b))
        .max()
        .unwrap();
    let differing = pixels.iter().zip(&want).filter(|(a, b)| a != b).count();
    println!(
        "worst pixel difference {worst}/255; {differing} of {} channels differ",
        want.len()
    );
    assert!(worst <= 1, "worst pixel difference {worst}/255");
    // The image is not flat: a test image of one colour would hide errors.
    let distinct: std::collections::BTreeSet<_> = want.chunks(4).map(|p| p[0]).collect();
    assert!(
        distinct.len() > 20,
        "{} distinct red values",
        distinct.len()
    );
}

#[test]
fn generate_matches_candle_end_to_end() {
    matches_candle(SCHNELL, "schnell", &[]);
}

fn write_rgba_png(path: &Path, rgba: &[u8]) {
    let file = std::fs::File::create(path).unwrap();
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), WIDTH as u32, HEIGHT as u32);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(rgba).unwrap();
}

#[test]
fn image_to_image_matches_candle_end_to_end() {
    // A smooth picture (gradients and a disc), so the encoder sees structure.
    let rgba: Vec<u8> = (0..WIDTH * HEIGHT)
        .flat_map(|i| {
            let (x, y) = ((i % WIDTH) as f32, (i / WIDTH) as f32);
            let inside = (x - 30.0).powi(2) + (y - 20.0).powi(2) < 150.0;
            [
                (x * 4.0) as u8,
                (y * 5.0) as u8,
                if inside { 230 } else { 40 },
                255,
            ]
        })
        .collect();
    matches_candle_from(SCHNELL, "img2img", &[], Some((&rgba, 0.5)));
}

#[test]
fn dev_guidance_and_true_cfg_match_candle() {
    // The manifest's default CFG scale is overridden on the command line,
    // and so is the embedded guidance.
    let guidance = Guidance {
        distilled: true,
        embedded: 2.5,
        cfg: Some(3.0),
    };
    matches_candle(guidance, "dev-cfg", &["--guidance", "2.5", "--cfg", "3.0"]);
}

#[test]
fn without_a_built_in_model_generate_says_so_or_runs() {
    // models/sculpt-tiny is being trained elsewhere: until it is installed,
    // the default must be a clear error rather than a panic.
    let dir = TempDir::new("no-model");
    let output = Command::new(env!("CARGO_BIN_EXE_sculpt"))
        .args(["generate", "--prompt", "a cat", "--out"])
        .arg(dir.0.join("out.png"))
        .output()
        .unwrap();
    let built_in = common::built_in_model().join("manifest.json");
    if !built_in.exists() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success());
        assert!(
            stderr.contains("no built-in model is installed yet"),
            "{stderr}"
        );
    }
}

#[test]
fn a_folder_of_files_with_a_sharded_t5_generates() {
    // No manifest: roles come from the headers, the two T5 shards are read
    // as one, the tokenizers are told apart by type, and the defaults are
    // schnell's (4 steps, 256 T5 tokens).
    let configs = configs(SCHNELL);
    let model = write_model(&configs, SCHNELL, "folder");
    let dir = &model.dir.0;
    std::fs::remove_file(dir.join("manifest.json")).unwrap();
    std::fs::remove_file(dir.join("t5.safetensors")).unwrap();
    let (first, second): (common::Weights, common::Weights) = model
        .t5
        .clone()
        .into_iter()
        .partition(|(name, _)| name.starts_with("encoder.block.0.") || name == "shared.weight");
    std::fs::create_dir(dir.join("text_encoder_2")).unwrap();
    write_safetensors(
        &dir.join("text_encoder_2/model-00001-of-00002.safetensors"),
        &first,
    );
    write_safetensors(
        &dir.join("text_encoder_2/model-00002-of-00002.safetensors"),
        &second,
    );
    for (from, to) in [
        ("clip-tokenizer.json", "tokenizer.json"),
        ("t5-tokenizer.json", "t5.tokenizer.json"),
    ] {
        std::fs::create_dir_all(dir.join(to.replace(".json", ""))).unwrap();
        std::fs::rename(dir.join(from), dir.join(to.replace(".json", "")).join(to)).unwrap();
    }
    let out = dir.join("out.png");
    let output = Command::new(env!("CARGO_BIN_EXE_sculpt"))
        .args(["generate", "--model"])
        .arg(dir)
        .args([
            "--prompt", PROMPT, "--width", "64", "--height", "48", "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (width, height, _, text) = read_png(&out);
    assert_eq!((width, height), (WIDTH, HEIGHT));
    assert_eq!(text["model"], "transformer");
    assert_eq!(text["steps"], "4");
}
