//! A model from loose files, as a user has them: FLUX weights (one file per
//! model, or the shards of a split checkpoint) and the text encoders'
//! tokenizer.json files, in any order and under any names. Each weight
//! file's role is read from its header, each tokenizer's from its model type
//! (CLIP's is BPE, T5's Unigram), and the family is the one on the roster
//! they make up. The CLI's `--model` files and the page's import share this.

use std::collections::BTreeMap;

use super::{ModelDefaults, ModelFiles};
use crate::checkpoint::{CheckpointError, ModelConfig, Role, detect};
use crate::family::{Family, ModelConfigs, roster};
use crate::formats::{ByteSource, FormatError};
use crate::models::preview::{self, PreviewDecoder};
use crate::weights::FileWeights;

/// A tokenizer.json larger than this is not one (CLIP's is 2 MB, T5's 2.4 MB).
const MAX_TOKENIZER_BYTES: u64 = 64 << 20;
/// A step preview decoder larger than this is not one (sculpt-tiny's is 111 KB).
const MAX_PREVIEW_BYTES: u64 = 16 << 20;

/// The files of a model, sorted into roles.
pub struct LooseModel<S> {
    /// The family's defaults for the models found (FLUX.1's released
    /// defaults for dev or schnell).
    pub defaults: ModelDefaults,
    pub files: ModelFiles<S>,
    /// What was found, in pipeline order, for a page or a log to show.
    pub parts: Vec<FoundPart>,
    /// Files that are neither weights nor tokenizers (a folder's
    /// config.json, README.md…), left out.
    pub ignored: Vec<String>,
}

/// One part of the model and the files that hold it.
#[derive(Clone, Debug, PartialEq)]
pub struct FoundPart {
    /// "FLUX transformer", "CLIP tokenizer"…
    pub what: String,
    pub files: Vec<String>,
    /// The file bytes of the part.
    pub bytes: u64,
    /// "schnell (no guidance input)", "BPE tokenizer"…
    pub detail: String,
}

#[derive(Debug, thiserror::Error)]
pub enum LooseFilesError {
    #[error("no files were given")]
    NoFiles,
    #[error("no {0} among the files")]
    Missing(String),
    #[error("the files make up a {family} model, which has no {what}")]
    Unused { what: String, family: &'static str },
    #[error("{first} and {second} are both a {role}; give one")]
    Twice {
        role: String,
        first: String,
        second: String,
    },
    #[error("{prefix} is split into {total} shards, but {given} were given")]
    MissingShards {
        prefix: String,
        total: usize,
        given: usize,
    },
    #[error("{file} is not a tokenizer.json: {why}")]
    NotATokenizer { file: String, why: String },
    #[error("{file}: a {kind} tokenizer is neither CLIP's (BPE) nor T5's (Unigram)")]
    UnknownTokenizer { file: String, kind: String },
    #[error("reading {file} failed: {message}")]
    Read { file: String, message: String },
    #[error("{0}")]
    Preview(String),
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
}

/// Whether a file is a tokenizer by its name (`tokenizer.json`,
/// `clip-tokenizer.json`, `t5_tokenizer.json`…).
pub fn is_tokenizer_name(name: &str) -> bool {
    name.to_ascii_lowercase().ends_with("tokenizer.json")
}

/// Whether a file holds weights by its name: GGUF or safetensors (`.sft` is
/// BFL's short form).
pub fn is_weights_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [".gguf", ".safetensors", ".sft"]
        .iter()
        .any(|extension| name.ends_with(extension))
}

/// Sorts `sources` into the models and tokenizers of a family on the
/// roster, reading only the weight files' headers (and the tokenizers
/// whole). Files that are neither (by name) are left out and listed.
pub async fn sort_loose_files<S: ByteSource>(
    sources: Vec<S>,
) -> Result<LooseModel<S>, LooseFilesError> {
    if sources.is_empty() {
        return Err(LooseFilesError::NoFiles);
    }
    let mut tokenizers: BTreeMap<Role, (String, Vec<u8>)> = BTreeMap::new();
    let mut sets: BTreeMap<(String, usize), Vec<S>> = BTreeMap::new();
    let mut ignored = Vec::new();
    for mut source in sources {
        if is_weights_name(source.name()) {
            sets.entry(shard_set(source.name()))
                .or_default()
                .push(source);
            continue;
        }
        if !is_tokenizer_name(source.name()) {
            ignored.push(source.name().to_string());
            continue;
        }
        let bytes = read_whole(&mut source).await?;
        let kind = tokenizer_kind(&bytes).map_err(|why| LooseFilesError::NotATokenizer {
            file: source.name().into(),
            why,
        })?;
        let Some(role) = Role::ALL
            .into_iter()
            .find(|role| role.tokenizer_model() == Some(kind.as_str()))
        else {
            return Err(LooseFilesError::UnknownTokenizer {
                file: source.name().into(),
                kind,
            });
        };
        if let Some((first, _)) = tokenizers.get(&role) {
            return Err(LooseFilesError::Twice {
                role: format!("{kind} tokenizer"),
                first: first.clone(),
                second: source.name().into(),
            });
        }
        tokenizers.insert(role, (source.name().into(), bytes));
    }

    let mut weights: BTreeMap<Role, (Vec<S>, ModelConfig, FoundPart)> = BTreeMap::new();
    let mut preview: Option<(String, Vec<u8>, FoundPart)> = None;
    for ((prefix, total), mut shards) in sets {
        shards.sort_by(|a, b| a.name().cmp(b.name()));
        if shards.len() != total {
            return Err(LooseFilesError::MissingShards {
                prefix,
                total,
                given: shards.len(),
            });
        }
        let names: Vec<String> = shards.iter().map(|s| s.name().to_string()).collect();
        let bytes = shards.iter().map(ByteSource::len).sum();
        let file = FileWeights::open_shards(shards).await?;
        // A model's own step preview decoder (sculpt-tiny's
        // preview.safetensors): kept whole beside the weights.
        if file.index().get(preview::WEIGHT).is_some() {
            if let Some((first, _, _)) = &preview {
                return Err(LooseFilesError::Twice {
                    role: "step preview decoder".into(),
                    first: first.clone(),
                    second: names[0].clone(),
                });
            }
            let [mut source] = <[S; 1]>::try_from(file.into_sources()).map_err(|_| {
                LooseFilesError::Preview(format!("{prefix}: a preview decoder is one file"))
            })?;
            if source.len() > MAX_PREVIEW_BYTES {
                return Err(LooseFilesError::Preview(format!(
                    "{}: {} bytes is too much for a preview decoder (a few hundred KB)",
                    names[0],
                    source.len()
                )));
            }
            let bytes = read_whole(&mut source).await?;
            let decoder = PreviewDecoder::from_safetensors(&names[0], &bytes)
                .await
                .map_err(LooseFilesError::Preview)?;
            let part = FoundPart {
                what: "step preview decoder".into(),
                files: names.clone(),
                bytes: bytes.len() as u64,
                detail: format!(
                    "{k}×{k} convolution, {} latent channels to {}×{} pixels",
                    decoder.channels,
                    decoder.factor,
                    decoder.factor,
                    k = decoder.kernel
                ),
            };
            preview = Some((names[0].clone(), bytes, part));
            continue;
        }
        let checkpoint = detect(file.name(), file.index())?;
        let role = checkpoint.role();
        if let Some((_, _, first)) = weights.get(&role) {
            return Err(LooseFilesError::Twice {
                role: role.to_string(),
                first: first.files[0].clone(),
                second: names[0].clone(),
            });
        }
        let part = FoundPart {
            what: role.to_string(),
            files: names,
            bytes,
            detail: checkpoint.variant(),
        };
        weights.insert(role, (file.into_sources(), checkpoint.config, part));
    }

    let family = family_of(&weights, &tokenizers)?;
    let name = file_stem(&weights[&Role::Transformer].2.files[0]);
    let mut parts: Vec<FoundPart> = family
        .roles()
        .iter()
        .map(|role| weights[role].2.clone())
        .collect();
    for stage in &family.text_encoders {
        let (file, bytes) = &tokenizers[&stage.role];
        let model = stage.role.tokenizer_model().expect("a text encoder");
        parts.push(FoundPart {
            what: tokenizer_name(stage.role),
            files: vec![file.clone()],
            bytes: bytes.len() as u64,
            detail: model.into(),
        });
    }
    if let Some((_, _, part)) = &preview {
        parts.push(part.clone());
    }
    let configs = ModelConfigs::new(weights.values().map(|(_, config, _)| config.clone()));
    Ok(LooseModel {
        defaults: (family.imported_defaults)(&name, &configs),
        files: ModelFiles {
            weights: weights
                .into_iter()
                .map(|(role, (sources, _, _))| (role, sources))
                .collect(),
            tokenizers: tokenizers
                .into_iter()
                .map(|(role, (_, bytes))| (role, bytes))
                .collect(),
            family,
            preview: preview.map(|(name, bytes, _)| (name, bytes)),
        },
        parts,
        ignored,
    })
}

/// The family on the roster made of exactly the models and tokenizers
/// found; else what the closest family lacks, in its pipeline order.
fn family_of<W, T>(
    weights: &BTreeMap<Role, W>,
    tokenizers: &BTreeMap<Role, T>,
) -> Result<Family, LooseFilesError> {
    let lacks = |family: &Family| -> Vec<String> {
        let models = family
            .roles()
            .into_iter()
            .filter(|role| !weights.contains_key(role));
        let texts = family
            .text_encoders
            .iter()
            .filter(|stage| !tokenizers.contains_key(&stage.role));
        models
            .map(|role| role.name().to_string())
            .chain(texts.map(|stage| format!("{}.json", tokenizer_name(stage.role))))
            .collect()
    };
    let unused = |family: &Family| -> Option<String> {
        let roles = family.roles();
        let model = weights.keys().find(|role| !roles.contains(role));
        let text = tokenizers.keys().find(|role| !roles.contains(role));
        model
            .map(|role| role.name().to_string())
            .or_else(|| text.map(|role| tokenizer_name(*role)))
    };
    let roster = roster();
    if let Some(family) = roster
        .iter()
        .find(|family| lacks(family).is_empty() && unused(family).is_none())
    {
        return Ok(family.clone());
    }
    let closest = roster
        .iter()
        .min_by_key(|family| lacks(family).len())
        .expect("the roster is not empty");
    match lacks(closest).into_iter().next() {
        Some(missing) => Err(LooseFilesError::Missing(missing)),
        None => Err(LooseFilesError::Unused {
            what: unused(closest).expect("neither lacking nor unused is a match"),
            family: closest.name,
        }),
    }
}

/// "CLIP tokenizer", "T5 tokenizer".
fn tokenizer_name(role: Role) -> String {
    let encoder = match role {
        Role::Clip => "CLIP",
        Role::T5 => "T5",
        Role::Transformer | Role::Autoencoder => role.name(),
    };
    format!("{encoder} tokenizer")
}

async fn read_whole<S: ByteSource>(source: &mut S) -> Result<Vec<u8>, LooseFilesError> {
    if source.len() > MAX_TOKENIZER_BYTES {
        return Err(LooseFilesError::NotATokenizer {
            file: source.name().into(),
            why: format!("it is {} bytes", source.len()),
        });
    }
    let mut bytes = vec![0; source.len() as usize];
    source
        .read_at(0, &mut bytes)
        .await
        .map_err(|error| LooseFilesError::Read {
            file: source.name().into(),
            message: error.to_string(),
        })?;
    Ok(bytes)
}

/// The `model.type` of a tokenizer.json ("BPE", "Unigram").
fn tokenizer_kind(bytes: &[u8]) -> Result<String, String> {
    #[derive(serde::Deserialize)]
    struct Tokenizer {
        model: Model,
    }
    #[derive(serde::Deserialize)]
    struct Model {
        #[serde(rename = "type")]
        kind: String,
    }
    serde_json::from_slice::<Tokenizer>(bytes)
        .map(|tokenizer| tokenizer.model.kind)
        .map_err(|error| error.to_string())
}

/// "dir/flux1-dev.safetensors" → "flux1-dev".
fn file_stem(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    match base.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem.into(),
        _ => base.into(),
    }
}

/// The shard set a file belongs to: `dir/model-00001-of-00002.safetensors`
/// gives ("dir/model", 2); a file that is not a shard, (its name, 1).
pub fn shard_set(name: &str) -> (String, usize) {
    let stem = match name.rsplit_once('.') {
        Some((stem, extension)) if !extension.contains(['/', '\\']) => stem,
        _ => name,
    };
    shard_parts(stem).unwrap_or_else(|| (name.to_string(), 1))
}

/// "model-00001-of-00002" → ("model", 2).
fn shard_parts(stem: &str) -> Option<(String, usize)> {
    let (rest, total) = stem.rsplit_once("-of-")?;
    let (prefix, index) = rest.rsplit_once('-')?;
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(index) || !all_digits(total) {
        return None;
    }
    Some((prefix.to_string(), total.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_grouped_by_prefix_and_count() {
        assert_eq!(
            shard_set("t5/model-00001-of-00002.safetensors"),
            ("t5/model".into(), 2)
        );
        assert_eq!(
            shard_set("model-00002-of-00002.safetensors"),
            ("model".into(), 2)
        );
        assert_eq!(shard_set("ae.safetensors"), ("ae.safetensors".into(), 1));
        assert_eq!(
            shard_set("flux-of-x.gguf"),
            ("flux-of-x.gguf".into(), 1),
            "not digits"
        );
    }

    /// The built-in model's files (every one its manifest lists), without
    /// the manifest, as loose files (read from disk: native only).
    #[cfg(not(target_arch = "wasm32"))]
    fn built_in_files(extra: &[(&str, Vec<u8>)]) -> Vec<crate::formats::MemorySource<Vec<u8>>> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/sculpt-tiny");
        let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
        let manifest =
            super::super::Manifest::from_json("manifest.json", &read("manifest.json")).unwrap();
        let mut files: Vec<_> = manifest
            .files
            .values()
            .map(|file| crate::formats::MemorySource::new(file.path.clone(), read(&file.path)))
            .collect();
        files.extend(
            extra
                .iter()
                .map(|(name, bytes)| crate::formats::MemorySource::new(*name, bytes.clone())),
        );
        files
    }

    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn a_models_own_preview_decoder_is_found_among_loose_files() {
        let model = pollster::block_on(sort_loose_files(built_in_files(&[]))).unwrap();
        let (name, bytes) = model.files.preview.as_ref().unwrap();
        assert_eq!(name, "preview.safetensors");
        let part = model.parts.last().unwrap();
        assert_eq!(part.what, "step preview decoder");
        assert_eq!(part.bytes, bytes.len() as u64);
        assert_eq!(
            part.detail,
            "3×3 convolution, 16 latent channels to 8×8 pixels"
        );
        assert!(model.ignored.is_empty());

        let copy = bytes.clone();
        let Err(error) = pollster::block_on(sort_loose_files(built_in_files(&[(
            "again.safetensors",
            copy,
        )]))) else {
            panic!("two preview decoders were taken");
        };
        assert!(
            error
                .to_string()
                .contains("are both a step preview decoder"),
            "{error}"
        );

        let no_bias = crate::formats::f32_safetensors_bytes([(
            preview::WEIGHT,
            [192usize, 16, 1, 1].as_slice(),
            vec![0.0; 192 * 16].as_slice(),
        )])
        .unwrap();
        let mut files = built_in_files(&[("odd-preview.safetensors", no_bias)]);
        files.retain(|file| file.name() != "preview.safetensors");
        let Err(error) = pollster::block_on(sort_loose_files(files)) else {
            panic!("a preview without its bias was taken");
        };
        assert!(
            error.to_string().starts_with("odd-preview.safetensors: "),
            "{error}"
        );
    }

    #[test]
    fn the_model_is_named_after_the_transformer_file() {
        assert_eq!(file_stem("dir/flux1-dev-Q4_0.gguf"), "flux1-dev-Q4_0");
        assert_eq!(
            file_stem("C:\\models\\flux1-schnell.safetensors"),
            "flux1-schnell"
        );
        assert_eq!(file_stem("noext"), "noext");
    }

    #[test]
    fn files_are_weights_tokenizers_or_left_out_by_name() {
        assert!(is_weights_name("flux1-dev-Q4_0.GGUF"));
        assert!(is_weights_name("ae.sft"));
        assert!(!is_weights_name("config.json"));
        assert!(is_tokenizer_name("text_encoder_2/tokenizer.json"));
        assert!(!is_tokenizer_name("tokenizer_config.json"));
    }

    #[test]
    fn tokenizers_are_told_apart_by_model_type() {
        assert_eq!(
            tokenizer_kind(br#"{"model":{"type":"Unigram","vocab":[]}}"#).unwrap(),
            "Unigram"
        );
        assert!(tokenizer_kind(b"{\"version\":1}").is_err());
    }
}
