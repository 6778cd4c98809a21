//! The tiny random model the CLI tests generate with: configurations,
//! checkpoint files, tokenizers and a manifest in a temporary folder.

use std::io::Read;
use std::path::{Path, PathBuf};

use sculpt_flux::checkpoint::ModelConfig;
use sculpt_flux::checkpoint::{autoencoder_layout, clip_layout, flux_layout, t5_layout};
use sculpt_flux::family::ModelConfigs;
use sculpt_flux::models::autoencoder::AutoEncoderConfig;
use sculpt_flux::models::clip::ClipTextConfig;
use sculpt_flux::models::flux1::FluxConfig;
use sculpt_flux::models::t5::T5Config;
use sculpt_flux::pipeline::{Manifest, ManifestFile, ManifestShift};
use sha2::{Digest, Sha256};

use super::{TempDir, Weights, random_weights, write_safetensors};

pub const WIDTH: usize = 64;
pub const HEIGHT: usize = 48;
pub const STEPS: usize = 4;
pub const SEED: u64 = 7;
pub const T5_LENGTH: usize = 16;
pub const PROMPT: &str = "a photo of a cat";

pub struct Configs {
    pub transformer: FluxConfig,
    pub autoencoder: AutoEncoderConfig,
    pub clip: ClipTextConfig,
    pub t5: T5Config,
}

/// How a test generation is guided.
#[derive(Clone, Copy)]
pub struct Guidance {
    /// dev's structure: a guidance embedder, the shifted schedule.
    pub distilled: bool,
    /// dev's embedded guidance strength.
    pub embedded: f32,
    /// True classifier-free guidance.
    pub cfg: Option<f32>,
}

pub const SCHNELL: Guidance = Guidance {
    distilled: false,
    embedded: 3.5,
    cfg: None,
};

pub fn configs(guidance: Guidance) -> Configs {
    let clip = ClipTextConfig {
        // The real CLIP vocabulary of the test tokenizer.
        vocab_size: 49408,
        ..ClipTextConfig::tiny()
    };
    let t5 = T5Config::tiny();
    Configs {
        transformer: FluxConfig {
            vec_in_dim: clip.hidden_size,
            context_in_dim: t5.d_model,
            ..FluxConfig::tiny(guidance.distilled)
        },
        autoencoder: AutoEncoderConfig::tiny(),
        clip,
        t5,
    }
}

pub fn manifest_file(dir: &Path, name: &str) -> ManifestFile {
    let bytes = std::fs::read(dir.join(name)).unwrap();
    ManifestFile {
        path: name.into(),
        bytes: bytes.len() as u64,
        sha256: Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    }
}

pub fn test_data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../sculpt-flux/tests/data")
        .join(name)
}

pub fn clip_tokenizer_json() -> Vec<u8> {
    let gz = std::fs::read(test_data("clip-vit-large-patch14.tokenizer.json.gz")).unwrap();
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(gz.as_slice())
        .read_to_end(&mut json)
        .unwrap();
    json
}

pub struct Model {
    pub dir: TempDir,
    pub transformer: Weights,
    pub autoencoder: Weights,
    pub clip: Weights,
    pub t5: Weights,
}

/// Writes the tiny model and its manifest.
pub fn write_model(configs: &Configs, guidance: Guidance, name: &str) -> Model {
    let dir = TempDir::new(name);
    let model = Model {
        transformer: random_weights(flux_layout(&configs.transformer), 1),
        autoencoder: random_weights(autoencoder_layout(&configs.autoencoder), 2),
        clip: random_weights(clip_layout(&configs.clip), 3),
        t5: random_weights(t5_layout(&configs.t5), 4),
        dir,
    };
    let path = |name: &str| model.dir.0.join(name);
    write_safetensors(&path("transformer.safetensors"), &model.transformer);
    write_safetensors(&path("ae.safetensors"), &model.autoencoder);
    write_safetensors(&path("clip.safetensors"), &model.clip);
    write_safetensors(&path("t5.safetensors"), &model.t5);
    std::fs::write(path("clip-tokenizer.json"), clip_tokenizer_json()).unwrap();
    std::fs::copy(
        test_data("t5-synthetic.tokenizer.json"),
        path("t5-tokenizer.json"),
    )
    .unwrap();
    let dir = &model.dir.0;
    let manifest = Manifest {
        name: "tiny-test".into(),
        version: 1,
        resolution: [WIDTH, HEIGHT],
        default_steps: STEPS,
        schedule_shift: guidance.distilled.then_some(ManifestShift {
            base_shift: 0.5,
            max_shift: 1.15,
        }),
        // A default the tests override with --cfg: the command line wins.
        cfg_scale: guidance.cfg.map(|_| 1.5),
        t5_length: T5_LENGTH,
        family: "flux1".into(),
        files: [
            ("transformer", "transformer.safetensors"),
            ("autoencoder", "ae.safetensors"),
            ("clip", "clip.safetensors"),
            ("t5", "t5.safetensors"),
            ("clip_tokenizer", "clip-tokenizer.json"),
            ("t5_tokenizer", "t5-tokenizer.json"),
        ]
        .into_iter()
        .map(|(key, file)| (key.to_string(), manifest_file(dir, file)))
        .collect(),
        config: ModelConfigs::new([
            ModelConfig::Transformer(configs.transformer.clone()),
            ModelConfig::Autoencoder(configs.autoencoder.clone()),
            ModelConfig::Clip(configs.clip.clone()),
            ModelConfig::T5(configs.t5.clone()),
        ]),
    };
    std::fs::write(path("manifest.json"), manifest.to_json()).unwrap();
    model
}
