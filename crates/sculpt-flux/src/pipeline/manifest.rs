//! A model manifest (`models/<name>/manifest.json`): the files of a model
//! and everything the pipeline needs that the weights do not say, so that
//! the built-in model and imported FLUX checkpoints run through the same
//! code. Field names are the Rust field names; unknown fields are refused,
//! so a misspelled field is an error rather than a silent default.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::family::{Family, ModelConfigs, ModelDefaults};
use crate::schedule::ScheduleShift;

/// The manifest version this code reads.
pub const MANIFEST_VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: String,
    pub version: u32,
    /// The [`Family`] the models make up ([`crate::family::roster`]'s
    /// `id`); FLUX.1 when absent.
    #[serde(default = "flux1_id", skip_serializing_if = "is_flux1_id")]
    pub family: String,
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
    pub config: ModelConfigs,
}

fn flux1_id() -> String {
    crate::family::flux1().id.into()
}

fn is_flux1_id(id: &String) -> bool {
    *id == flux1_id()
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

/// The files by key: each model's under its role's key (`transformer`,
/// `clip`…), each text encoder's tokenizer.json under `<role>_tokenizer`;
/// exactly the keys its family's [`Family::file_keys`] lists, and
/// optionally [`PREVIEW_KEY`].
pub type ManifestFiles = BTreeMap<String, ManifestFile>;

/// The optional file of a model's own preview decoder
/// ([`crate::models::preview`]), any family's.
pub const PREVIEW_KEY: &str = "preview";

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

impl ModelDefaults {
    pub fn of_manifest(manifest: &Manifest) -> Self {
        Self {
            name: manifest.name.clone(),
            resolution: manifest.resolution,
            steps: manifest.default_steps,
            schedule_shift: manifest.schedule_shift.map(Into::into),
            cfg_scale: manifest.cfg_scale,
            t5_length: manifest.t5_length,
        }
    }
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
        let family = manifest.family().map_err(invalid)?;
        let keys = family.file_keys();
        if let Some(missing) = keys.iter().find(|key| !manifest.files.contains_key(*key)) {
            return Err(invalid(format!(
                "files has no {missing} (a {} model's files are {})",
                family.name,
                keys.join(", ")
            )));
        }
        if let Some(extra) = manifest
            .files
            .keys()
            .find(|key| !keys.contains(key) && *key != PREVIEW_KEY)
        {
            return Err(invalid(format!(
                "files.{extra}: a {} model has no such file (its files are {})",
                family.name,
                keys.join(", ")
            )));
        }
        family.check(&manifest.config).map_err(invalid)?;
        Ok(manifest)
    }

    /// The family the manifest names.
    pub fn family(&self) -> Result<Family, String> {
        crate::family::by_id(&self.family)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a manifest always serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::ModelConfig;
    use crate::models::autoencoder::AutoEncoderConfig;
    use crate::models::clip::ClipTextConfig;
    use crate::models::flux1::FluxConfig;
    use crate::models::t5::T5Config;

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
            family: "flux1".into(),
            files: [
                ("transformer", "flux1-dev-Q4_0.gguf"),
                ("autoencoder", "ae.safetensors"),
                ("clip", "clip_l.safetensors"),
                ("t5", "t5xxl.safetensors"),
                ("clip_tokenizer", "tokenizer/tokenizer.json"),
                ("t5_tokenizer", "tokenizer_2/tokenizer.json"),
            ]
            .into_iter()
            .map(|(key, path)| (key.to_string(), file(path)))
            .collect(),
            config: ModelConfigs::new([
                ModelConfig::Transformer(FluxConfig::dev()),
                ModelConfig::Autoencoder(AutoEncoderConfig::flux()),
                ModelConfig::Clip(ClipTextConfig::vit_l_14()),
                ModelConfig::T5(T5Config::v1_1_xxl()),
            ]),
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
        manifest.config.insert(ModelConfig::T5(T5Config {
            d_model: 2048,
            ..T5Config::v1_1_xxl()
        }));
        let error = Manifest::from_json("m.json", manifest.to_json().as_bytes()).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("context_in_dim is 4096, but t5.d_model is 2048"),
            "{error}"
        );

        // A latent 4× smaller than the image is taken; 16× is not.
        let mut manifest = dev();
        let levels = |ch_mult: Vec<usize>| {
            ModelConfig::Autoencoder(AutoEncoderConfig {
                ch_mult,
                ..AutoEncoderConfig::flux()
            })
        };
        manifest.config.insert(levels(vec![1, 2, 4]));
        Manifest::from_json("m.json", manifest.to_json().as_bytes()).unwrap();
        manifest.config.insert(levels(vec![1, 2, 4, 4, 4]));
        let error = Manifest::from_json("m.json", manifest.to_json().as_bytes()).unwrap_err();
        assert!(error.to_string().contains("16x smaller"), "{error}");

        let mut manifest = dev();
        manifest.config.insert(levels(vec![]));
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

    #[test]
    fn the_family_decides_the_files_and_configs() {
        // Written without `family`, read as FLUX.1 (every manifest so far).
        let json = dev().to_json();
        assert!(!json.contains("\"family\""), "{json}");

        let mut manifest = dev();
        manifest.family = "flux3".into();
        let error = Manifest::from_json("m.json", manifest.to_json().as_bytes()).unwrap_err();
        assert!(
            error.to_string().contains("family 'flux3' is not one"),
            "{error}"
        );

        let mut manifest = dev();
        manifest.files.remove("t5_tokenizer");
        let error = Manifest::from_json("m.json", manifest.to_json().as_bytes()).unwrap_err();
        assert!(
            error.to_string().contains("files has no t5_tokenizer"),
            "{error}"
        );

        let mut manifest = dev();
        let extra = manifest.files["clip"].clone();
        manifest.files.insert("clip_2".into(), extra);
        let error = Manifest::from_json("m.json", manifest.to_json().as_bytes()).unwrap_err();
        assert!(error.to_string().contains("files.clip_2"), "{error}");

        let mut manifest = dev();
        manifest.config.remove(crate::checkpoint::Role::Clip);
        let error = Manifest::from_json("m.json", manifest.to_json().as_bytes()).unwrap_err();
        assert!(error.to_string().contains("config has no clip"), "{error}");

        let json = dev().to_json().replace("\"t5\": {", "\"t6\": {");
        let error = Manifest::from_json("m.json", json.as_bytes()).unwrap_err();
        assert!(
            error.to_string().contains("no model is called 't6'"),
            "{error}"
        );
    }
}
