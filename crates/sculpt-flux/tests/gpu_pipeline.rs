//! The pipeline on a tiny random model held in memory: the steady state of
//! a denoising step on the GPU, determinism, image-to-image, and the
//! refusal of bad requests and misplaced files before anything is loaded.
//! (Equality with candle-transformers end to end is `sculpt-cli`'s
//! `tests/gpu_generate.rs`, through the binary.)
//!
//! Run natively: `XDG_RUNTIME_DIR=/tmp/xdg cargo test -p sculpt-flux --test gpu_pipeline`.

#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::{gpu, random_safetensors};
use std::collections::BTreeMap;
use std::io::Read;
use std::rc::Rc;

use sculpt_flux::checkpoint::{
    CheckpointProblem, ModelConfig, Role, autoencoder_layout, clip_layout, flux_layout, t5_layout,
};
use sculpt_flux::family::{ModelConfigs, flux1};
use sculpt_flux::formats::MemorySource;
use sculpt_flux::generation::{Pipeline, Show};
use sculpt_flux::gpu::GpuPipeline;
use sculpt_flux::models::autoencoder::AutoEncoderConfig;
use sculpt_flux::models::clip::ClipTextConfig;
use sculpt_flux::models::flux1::FluxConfig;
use sculpt_flux::models::t5::T5Config;
use sculpt_flux::pipeline::{
    GenerateRequest, ImageStart, InitImage, ModelDefaults, ModelFiles, PipelineError, RequestError,
};
use sculpt_gpu::Gpu;

type Source = MemorySource<Vec<u8>>;

fn configs() -> ModelConfigs {
    let clip = ClipTextConfig {
        vocab_size: 49408,
        ..ClipTextConfig::tiny()
    };
    let t5 = T5Config::tiny();
    ModelConfigs::new([
        ModelConfig::Transformer(FluxConfig {
            vec_in_dim: clip.hidden_size,
            context_in_dim: t5.d_model,
            ..FluxConfig::tiny(false)
        }),
        ModelConfig::Autoencoder(AutoEncoderConfig::tiny()),
        ModelConfig::Clip(clip),
        ModelConfig::T5(t5),
    ])
}

/// T5 split in two shards, as the public `text_encoder_2` is.
fn t5_shards(config: &T5Config) -> Vec<Source> {
    let layout = t5_layout(config);
    let (first, second): (Vec<_>, Vec<_>) = layout.into_iter().partition(|tensor| {
        tensor.name.starts_with("encoder.block.0.") || tensor.name == "shared.weight"
    });
    vec![
        random_safetensors("t5-00001-of-00002.safetensors", first, 4),
        random_safetensors("t5-00002-of-00002.safetensors", second, 5),
    ]
}

fn test_data(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    let bytes = std::fs::read(path).unwrap();
    if name.ends_with(".gz") {
        let mut json = Vec::new();
        flate2::read::GzDecoder::new(bytes.as_slice())
            .read_to_end(&mut json)
            .unwrap();
        json
    } else {
        bytes
    }
}

fn files(configs: &ModelConfigs) -> ModelFiles<Source> {
    let transformer = random_safetensors(
        "transformer.safetensors",
        flux_layout(configs.transformer()),
        1,
    );
    let autoencoder = random_safetensors(
        "ae.safetensors",
        autoencoder_layout(configs.autoencoder()),
        2,
    );
    let clip = random_safetensors("clip.safetensors", clip_layout(configs.clip().unwrap()), 3);
    ModelFiles {
        family: flux1(),
        weights: BTreeMap::from([
            (Role::Transformer, vec![transformer]),
            (Role::Autoencoder, vec![autoencoder]),
            (Role::Clip, vec![clip]),
            (Role::T5, t5_shards(configs.t5().unwrap())),
        ]),
        tokenizers: BTreeMap::from([
            (
                Role::Clip,
                test_data("clip-vit-large-patch14.tokenizer.json.gz"),
            ),
            (Role::T5, test_data("t5-synthetic.tokenizer.json")),
        ]),
        preview: None,
    }
}

fn defaults() -> ModelDefaults {
    ModelDefaults {
        name: "tiny".into(),
        resolution: [64, 48],
        steps: 4,
        schedule_shift: None,
        cfg_scale: None,
        t5_length: 16,
    }
}

fn pipeline(gpu: &Rc<Gpu>) -> GpuPipeline<Source> {
    let configs = configs();
    let files = files(&configs);
    open(gpu, Some(configs), files).unwrap()
}

fn open(
    gpu: &Rc<Gpu>,
    configs: Option<ModelConfigs>,
    files: ModelFiles<Source>,
) -> Result<GpuPipeline<Source>, PipelineError> {
    pollster::block_on(GpuPipeline::open(
        Rc::clone(gpu),
        defaults(),
        configs,
        files,
    ))
}

fn request(seed: u64) -> GenerateRequest {
    GenerateRequest {
        prompt: "a photo of a cat".into(),
        width: 64,
        height: 48,
        steps: 4,
        seed,
        guidance: None,
        cfg_scale: None,
        init_image: None,
    }
}

#[test]
fn steps_after_the_first_create_nothing_and_read_nothing_back() {
    let gpu = Rc::new(gpu());
    let mut pipeline = pipeline(&gpu);
    let mut generation = pollster::block_on(pipeline.start(&request(1))).unwrap();
    assert_eq!(generation.step_count(), 4);
    // Warm-up is two steps: during the first no earlier prediction is
    // alive; from the second on, the last prediction is held while the next
    // is made, so the pool reaches its size then.
    generation.step().unwrap().expect("a first step");
    generation.step().unwrap().expect("a second step");
    gpu.flush();
    let before = gpu.stats();
    for index in 2..4 {
        let step = generation.step().unwrap().expect("four steps");
        assert_eq!(step.index, index);
    }
    assert!(generation.step().unwrap().is_none());
    gpu.flush();
    let during = gpu.stats() - before;
    assert_eq!(during.buffers_created, 0, "{during:?}");
    assert_eq!(during.pipelines_created, 0, "{during:?}");
    assert_eq!(during.bytes_read_back, 0, "{during:?}");
    // Only the timestep scalar goes up, 4 bytes a step.
    assert_eq!(during.bytes_uploaded, 8, "{during:?}");
    assert!(during.dispatches > 0, "{during:?}");
}

#[test]
fn the_same_seed_gives_the_same_pixels_and_another_seed_others() {
    let gpu = Rc::new(gpu());
    let mut pipeline = pipeline(&gpu);
    let mut generate =
        |seed| pollster::block_on(pipeline.generate(&request(seed), |_, _| Ok(()))).unwrap();
    let first = generate(5);
    // The second run reuses the loaded transformer and autoencoder.
    let again = generate(5);
    let other = generate(6);
    assert_eq!(
        (first.width, first.height, first.rgba.len()),
        (64, 48, 64 * 48 * 4)
    );
    assert_eq!(first, again);
    let differing = first
        .rgba
        .iter()
        .zip(&other.rgba)
        .filter(|(a, b)| a != b)
        .count();
    assert!(
        differing > first.rgba.len() / 4,
        "only {differing} bytes differ"
    );
}

#[test]
fn each_step_can_be_drawn_from_either_latent() {
    let gpu = Rc::new(gpu());
    let mut pipeline = pipeline(&gpu);
    let mut seen = Vec::new();
    let last = pollster::block_on(pipeline.generate(&request(2), |generation, step| {
        let current = pollster::block_on(generation.frame(Show::Current))?;
        let clean = pollster::block_on(generation.frame(Show::PredictedClean))?;
        seen.push((step.index, step.t, current, clean));
        Ok(())
    }))
    .unwrap();
    let times: Vec<f64> = seen.iter().map(|(_, t, _, _)| *t).collect();
    assert_eq!(times, [1.0, 0.75, 0.5, 0.25]);
    let (_, _, current, clean) = seen.last().unwrap();
    // After the last step (to t = 0) the latent is the prediction x_t − t·v.
    assert_eq!(current, &last);
    assert_eq!(clean, &last);
    // Before it, the noisy latent and the prediction differ.
    let (_, _, current, clean) = &seen[0];
    assert_ne!(current, clean);
}

#[test]
fn image_to_image_runs_the_tail_of_the_schedule_from_the_image() {
    let gpu = Rc::new(gpu());
    let mut pipeline = pipeline(&gpu);
    let image = |shade: u8| InitImage {
        width: 64,
        height: 48,
        rgba: (0..64 * 48)
            .flat_map(|i| [shade, (i % 64 * 4) as u8, (i / 64 * 5) as u8, 255])
            .collect(),
        start: ImageStart::Strength(0.5),
    };
    let mut with_image = |init: InitImage| {
        let request = GenerateRequest {
            init_image: Some(init),
            ..request(3)
        };
        let mut generation = pollster::block_on(pipeline.start(&request)).unwrap();
        // Strength 0.5 of 4 steps: the last two.
        assert_eq!(generation.step_count(), 2);
        let first = generation.step().unwrap().unwrap();
        assert_eq!(first.t, 0.5);
        pollster::block_on(generation.finish()).unwrap()
    };
    let dark = with_image(image(0));
    let light = with_image(image(255));
    assert_ne!(dark, light, "the start image must shape the result");
}

#[test]
fn bad_requests_are_refused_before_anything_is_loaded() {
    let gpu = Rc::new(gpu());
    let mut pipeline = pipeline(&gpu);
    let before = gpu.stats();
    let refused =
        |pipeline: &mut GpuPipeline<Source>, request: GenerateRequest| match pollster::block_on(
            pipeline.start(&request),
        ) {
            Err(PipelineError::Request(error)) => error,
            Err(other) => panic!("another error: {other}"),
            Ok(_) => panic!("accepted"),
        };
    assert_eq!(
        refused(
            &mut pipeline,
            GenerateRequest {
                width: 72,
                ..request(1)
            }
        ),
        RequestError::SizeNotMultipleOf16 {
            width: 72,
            height: 48
        }
    );
    assert_eq!(
        refused(
            &mut pipeline,
            GenerateRequest {
                height: 40,
                ..request(1)
            }
        ),
        RequestError::SizeNotMultipleOf16 {
            width: 64,
            height: 40
        }
    );
    assert_eq!(
        refused(
            &mut pipeline,
            GenerateRequest {
                prompt: String::new(),
                ..request(1)
            }
        ),
        RequestError::EmptyPrompt
    );
    assert_eq!(
        refused(
            &mut pipeline,
            GenerateRequest {
                steps: 0,
                ..request(1)
            }
        ),
        RequestError::ZeroSteps
    );
    let init = InitImage {
        width: 64,
        height: 48,
        rgba: vec![0; 64 * 48 * 4],
        start: ImageStart::Strength(-0.1),
    };
    assert_eq!(
        refused(
            &mut pipeline,
            GenerateRequest {
                init_image: Some(init),
                ..request(1)
            }
        ),
        RequestError::StrengthOutOfRange(-0.1)
    );
    assert_eq!((gpu.stats() - before).buffers_created, 0);
}

#[test]
fn a_file_in_the_wrong_role_is_refused_by_name() {
    let gpu = Rc::new(gpu());
    let configs = configs();
    let mut files = files(&configs);
    // The autoencoder passed as the transformer, without a manifest: its
    // role is read from its names.
    files.weights.insert(
        Role::Transformer,
        vec![random_safetensors(
            "ae-as-dit.safetensors",
            autoencoder_layout(configs.autoencoder()),
            2,
        )],
    );
    let error = open(&gpu, None, files).err().expect("refused");
    let PipelineError::Checkpoint(error) = error else {
        panic!("another error: {error}");
    };
    assert_eq!(error.file, "ae-as-dit.safetensors");
    assert!(
        matches!(
            error.problem,
            CheckpointProblem::WrongRole {
                found: Role::Autoencoder,
                wanted: Role::Transformer
            }
        ),
        "{error}"
    );

    // With a manifest, a transformer of another size names its first
    // mis-shaped tensor.
    let mut files = self::files(&configs);
    let wider = FluxConfig {
        hidden_size: 256,
        ..configs.transformer().clone()
    };
    files.weights.insert(
        Role::Transformer,
        vec![random_safetensors(
            "wide.safetensors",
            flux_layout(&wider),
            1,
        )],
    );
    let error = open(&gpu, Some(configs), files).err().expect("refused");
    let message = error.to_string();
    assert!(message.starts_with("wide.safetensors: "), "{message}");
    assert!(message.contains("img_in.weight"), "{message}");
}

#[test]
fn a_prompt_longer_than_t5_reads_is_reported() {
    let gpu = Rc::new(gpu());
    let mut pipeline = pipeline(&gpu);
    let long = GenerateRequest {
        prompt: "a photo of a cat ".repeat(8),
        ..request(1)
    };
    let generation = pollster::block_on(pipeline.start(&long)).unwrap();
    let warnings: Vec<String> = generation
        .truncations()
        .iter()
        .map(|t| t.to_string())
        .collect();
    // The model pads T5 to 16 tokens; CLIP's 77 hold the prompt.
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("reads the first 16"), "{warnings:?}");
    drop(generation);
    let short = pollster::block_on(pipeline.start(&request(1))).unwrap();
    assert!(short.truncations().is_empty());
}

#[test]
fn models_that_do_not_fit_together_are_refused() {
    let gpu = Rc::new(gpu());
    let mut configs = configs();
    // A CLIP narrower than the transformer's vector input.
    configs.insert(ModelConfig::Clip(ClipTextConfig {
        hidden_size: 32,
        intermediate_size: 128,
        num_heads: 1,
        ..configs.clip().unwrap().clone()
    }));
    let files = files(&configs);
    let error = open(&gpu, Some(configs), files).err().expect("refused");
    assert!(matches!(error, PipelineError::Config(_)), "{error}");
    assert!(
        error
            .to_string()
            .contains("vec_in_dim is 64, but clip.hidden_size is 32"),
        "{error}"
    );
}
