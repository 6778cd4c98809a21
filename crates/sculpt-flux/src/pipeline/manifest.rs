//! A model manifest (`models/<name>/manifest.json`): the files of a model
//! and everything the pipeline needs that the weights do not say, so that
//! the built-in model and imported FLUX checkpoints run through the same
//! code. Field names are the Rust field names; unknown fields are refused,
//! so a misspelled field is an error rather than a silent default.

use serde::{Deserialize, Serialize};

use crate::clip::ClipTextConfig;
use crate::flux::FluxConfig;
use crate::flux::autoencoder::AutoEncoderConfig;
use crate::schedule::ScheduleShift;
use crate::t5::T5Config;

/// The manifest version this code reads.
pub const MANIFEST_VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: String,
    pub version: u32,
    /// The default image size, [width, height].
    pub resolution: [usize; 2],
    pub default_steps: usize,
    /// dev's resolution-dependent schedule shift; `null` for an evenly
    /// spaced schedule (schnell).
    pub schedule_shift: Option<ManifestShift>,
    /// The default scale of true classifier-free guidance (a second,
    /// unconditional pass per step); `null` for none.
    pub cfg_scale: Option<f32>,
    /// Tokens the T5 tokenizer pads the prompt to.
    pub t5_length: usize,
    pub files: ManifestFiles,
    pub config: ManifestConfig,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestShift {
    pub base_shift: f64,
    pub max_shift: f64,
}

impl From<ManifestShift> for ScheduleShift {
    fn from(shift: ManifestShift) -> Self {
        ScheduleShift {
            base: shift.base_shift,
            max: shift.max_shift,
        }
    }
}

/// One file of the model, relative to the manifest's folder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestFile {
    pub path: String,
    pub bytes: u64,
    /// Lowercase hex SHA-256 of the file.
    pub sha256: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestFiles {
    pub transformer: ManifestFile,
    pub autoencoder: ManifestFile,
    pub clip: ManifestFile,
    pub t5: ManifestFile,
    pub clip_tokenizer: ManifestFile,
    pub t5_tokenizer: ManifestFile,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestConfig {
    pub transformer: FluxConfig,
    pub autoencoder: AutoEncoderConfig,
    pub clip: ClipTextConfig,
    pub t5: T5Config,
}

impl ManifestConfig {
    /// Checks that each model can run and that they fit together: the
    /// transformer takes CLIP's width as its vector, T5's as its text
    /// tokens, and 2×2 patches of the autoencoder's latent as image tokens.
    pub fn check(&self) -> Result<(), String> {
        let named = |model: &str, result: Result<(), String>| {
            result.map_err(|problem| format!("config.{model}: {problem}"))
        };
        named(
            "transformer",
            self.transformer.validate().map_err(|e| e.to_string()),
        )?;
        named(
            "autoencoder",
            self.autoencoder.validate().map_err(|e| e.to_string()),
        )?;
        named("clip", self.clip.validate().map_err(|e| e.to_string()))?;
        named("t5", self.t5.validate().map_err(|e| e.to_string()))?;
        let pairs = [
            (
                "vec_in_dim",
                self.transformer.vec_in_dim,
                "clip.hidden_size",
                self.clip.hidden_size,
            ),
            (
                "context_in_dim",
                self.transformer.context_in_dim,
                "t5.d_model",
                self.t5.d_model,
            ),
            (
                "in_channels",
                self.transformer.in_channels,
                "4 × autoencoder.z_channels",
                4 * self.autoencoder.z_channels,
            ),
        ];
        let scale = self.autoencoder.pixels_per_latent();
        // Image sizes are multiples of 16 (FLUX's 8× latent in 2×2 patches);
        // a latent at most 8× smaller still splits into whole patches.
        if scale > 8 {
            return Err(format!(
                "config.autoencoder has {} levels, so its latent is {scale}x smaller than the \
                 image; the pipeline takes at most FLUX's 8x (4 levels), so that images \
                 whose sides are multiples of 16 split into 2x2 latent patches",
                self.autoencoder.ch_mult.len()
            ));
        }
        for (field, value, other, expected) in pairs {
            if value != expected {
                return Err(format!(
                    "config.transformer.{field} is {value}, but {other} is {expected}: the models do not fit together"
                ));
            }
        }
        Ok(())
    }
}

/// Why a manifest cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{file}: not a valid model manifest: {detail}")]
    Json { file: String, detail: String },
    #[error("{file}: manifest version {found}, but this Sculpt reads version {MANIFEST_VERSION}")]
    Version { file: String, found: u32 },
    #[error("{file}: {detail}")]
    Invalid { file: String, detail: String },
}

impl Manifest {
    /// Parses and checks the manifest `file` (its name for messages).
    pub fn from_json(file: &str, json: &[u8]) -> Result<Self, ManifestError> {
        let manifest: Manifest = serde_json::from_slice(json).map_err(|e| ManifestError::Json {
            file: file.into(),
            detail: e.to_string(),
        })?;
        if manifest.version != MANIFEST_VERSION {
            return Err(ManifestError::Version {
                file: file.into(),
                found: manifest.version,
            });
        }
        let invalid = |detail: String| ManifestError::Invalid {
            file: file.into(),
            detail,
        };
        let [width, height] = manifest.resolution;
        if width == 0 || height == 0 || width % 16 != 0 || height % 16 != 0 {
            return Err(invalid(format!(
                "resolution {width}x{height} is not made of positive multiples of 16"
            )));
        }
        if manifest.default_steps == 0 {
            return Err(invalid("default_steps is 0".into()));
        }
        if manifest.t5_length == 0 {
            return Err(invalid("t5_length is 0".into()));
        }
        if let Some(scale) = manifest.cfg_scale
            && !scale.is_finite()
        {
            return Err(invalid(format!("cfg_scale {scale} is not a finite number")));
        }
        manifest.config.check().map_err(invalid)?;
        Ok(manifest)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a manifest always serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str) -> ManifestFile {
        ManifestFile {
            path: path.into(),
            bytes: 1234,
            sha256: "ab".repeat(32),
        }
    }

    fn dev() -> Manifest {
        Manifest {
            name: "flux1-dev".into(),
            version: 1,
            resolution: [1024, 768],
            default_steps: 28,
            schedule_shift: Some(ManifestShift {
                base_shift: 0.5,
                max_shift: 1.15,
            }),
            cfg_scale: None,
            t5_length: 512,
            files: ManifestFiles {
                transformer: file("flux1-dev-Q4_0.gguf"),
                autoencoder: file("ae.safetensors"),
                clip: file("clip_l.safetensors"),
                t5: file("t5xxl.safetensors"),
                clip_tokenizer: file("tokenizer/tokenizer.json"),
                t5_tokenizer: file("tokenizer_2/tokenizer.json"),
            },
            config: ManifestConfig {
                transformer: FluxConfig::dev(),
                autoencoder: AutoEncoderConfig::flux(),
                clip: ClipTextConfig::vit_l_14(),
                t5: T5Config::v1_1_xxl(),
            },
        }
    }

    #[test]
    fn a_manifest_round_trips_through_json() {
        let manifest = dev();
        let json = manifest.to_json();
        assert_eq!(
            Manifest::from_json("manifest.json", json.as_bytes()).unwrap(),
            manifest
        );
        // The field names are the Rust structs' own.
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["config"]["transformer"]["hidden_size"], 3072);
        assert_eq!(value["config"]["t5"]["d_ff"], 10240);
        assert_eq!(value["schedule_shift"]["max_shift"], 1.15);
        assert_eq!(
            value["files"]["t5_tokenizer"]["path"],
            "tokenizer_2/tokenizer.json"
        );
        assert!(value["cfg_scale"].is_null());
    }

    #[test]
    fn bad_manifests_are_refused_with_the_reason() {
        let mut manifest = dev();
        manifest.version = 2;
        let error = Manifest::from_json("m.json", manifest.to_json().as_bytes()).unwrap_err();
        assert!(error.to_string().contains("manifest version 2"), "{error}");

        let mut manifest = dev();
        manifest.resolution = [1000, 768];
        let error = Manifest::from_json("m.json", manifest.to_json().as_bytes()).unwrap_err();
        assert!(error.to_string().contains("1000x768"), "{error}");

        let mut manifest = dev();
        manifest.config.t5.d_model = 2048;
        let error = Manifest::from_json("m.json", manifest.to_json().as_bytes()).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("context_in_dim is 4096, but t5.d_model is 2048"),
            "{error}"
        );

        // A latent 4× smaller than the image is taken; 16× is not.
        let mut manifest = dev();
        manifest.config.autoencoder.ch_mult = vec![1, 2, 4];
        Manifest::from_json("m.json", manifest.to_json().as_bytes()).unwrap();
        manifest.config.autoencoder.ch_mult = vec![1, 2, 4, 4, 4];
        let error = Manifest::from_json("m.json", manifest.to_json().as_bytes()).unwrap_err();
        assert!(error.to_string().contains("16x smaller"), "{error}");

        let mut manifest = dev();
        manifest.config.autoencoder.ch_mult = vec![];
        let error = Manifest::from_json("m.json", manifest.to_json().as_bytes()).unwrap_err();
        assert!(error.to_string().contains("config.autoencoder"), "{error}");

        let json = dev().to_json().replace("\"t5_length\"", "\"t5_lenght\"");
        let error = Manifest::from_json("m.json", json.as_bytes()).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("m.json: not a valid model manifest"),
            "{error}"
        );
        assert!(error.to_string().contains("t5_lenght"), "{error}");
    }
}
