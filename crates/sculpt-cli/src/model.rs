//! Finding a model's files from `--model`: a manifest, a folder, or the
//! weight and tokenizer files themselves (each file's role read from its
//! header).

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use sculpt_flux::checkpoint::{ModelConfig, Role, detect};
use sculpt_flux::formats::FileSource;
use sculpt_flux::pipeline::{Manifest, ManifestConfig, ManifestFile, ModelDefaults, ModelFiles};
use sculpt_flux::weights::FileWeights;
use sha2::{Digest, Sha256};

/// Where the built-in model is installed, relative to this crate.
pub const BUILT_IN_MANIFEST: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../models/sculpt-tiny/manifest.json"
);

/// A model ready for `Pipeline::open`.
pub struct ModelChoice {
    pub defaults: ModelDefaults,
    pub configs: Option<ManifestConfig>,
    pub files: ModelFiles<FileSource>,
}

/// Resolves `--model`: nothing (the built-in model), a manifest, a folder
/// (its manifest.json, or the weight files in it), or files.
pub fn resolve(paths: &[PathBuf]) -> anyhow::Result<ModelChoice> {
    match paths {
        [] => {
            let built_in = Path::new(BUILT_IN_MANIFEST);
            if !built_in.exists() {
                bail!(
                    "no built-in model is installed yet (expected {}); pass --model with a \
                     manifest, a folder or FLUX weight files",
                    built_in.display()
                );
            }
            from_manifest(built_in)
        }
        [one] if one.extension().is_some_and(|e| e == "json") && !is_tokenizer(one) => {
            from_manifest(one)
        }
        [dir] if dir.is_dir() => {
            let manifest = dir.join("manifest.json");
            if manifest.exists() {
                from_manifest(&manifest)
            } else {
                from_files(&files_under(dir)?)
            }
        }
        files => from_files(files),
    }
}

fn from_manifest(path: &Path) -> anyhow::Result<ModelChoice> {
    let json = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let manifest = Manifest::from_json(&path.display().to_string(), &json)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let files = &manifest.files;
    Ok(ModelChoice {
        defaults: ModelDefaults::of_manifest(&manifest),
        configs: Some(manifest.config.clone()),
        files: ModelFiles {
            transformer: vec![open_checked(dir, &files.transformer)?],
            autoencoder: vec![open_checked(dir, &files.autoencoder)?],
            clip: vec![open_checked(dir, &files.clip)?],
            t5: vec![open_checked(dir, &files.t5)?],
            clip_tokenizer: read_checked(dir, &files.clip_tokenizer)?,
            t5_tokenizer: read_checked(dir, &files.t5_tokenizer)?,
        },
    })
}

/// Checks a manifest's file against its size and SHA-256 (read in 1 MiB
/// pieces) and returns its path.
fn checked_path(dir: &Path, entry: &ManifestFile) -> anyhow::Result<PathBuf> {
    let path = dir.join(&entry.path);
    let mut file = File::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
    let len = file.metadata()?.len();
    if len != entry.bytes {
        bail!(
            "{} is {len} bytes, but the manifest says {}: the file is incomplete or another file",
            path.display(),
            entry.bytes
        );
    }
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    let digest: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if digest != entry.sha256.to_lowercase() {
        bail!(
            "{} has SHA-256 {digest}, but the manifest says {}",
            path.display(),
            entry.sha256
        );
    }
    Ok(path)
}

fn open_checked(dir: &Path, entry: &ManifestFile) -> anyhow::Result<FileSource> {
    open_source(&checked_path(dir, entry)?)
}

fn read_checked(dir: &Path, entry: &ManifestFile) -> anyhow::Result<Vec<u8>> {
    let path = checked_path(dir, entry)?;
    std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))
}

fn open_source(path: &Path) -> anyhow::Result<FileSource> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    FileSource::new(file, path.display().to_string())
        .with_context(|| format!("cannot read {}", path.display()))
}

fn open_all(paths: &[PathBuf]) -> anyhow::Result<Vec<FileSource>> {
    paths.iter().map(|path| open_source(path)).collect()
}

fn is_tokenizer(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|name| name.to_string_lossy().ends_with("tokenizer.json"))
}

/// The weight and tokenizer files in `dir` and its subfolders.
fn files_under(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?
        {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else if is_tokenizer(&path)
                || path
                    .extension()
                    .is_some_and(|e| e == "safetensors" || e == "gguf")
            {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// The shard set a file belongs to: `model-00001-of-00002.safetensors`
/// gives (its folder, "model", 2); a file that is not a shard, itself.
pub fn shard_set(path: &Path) -> (PathBuf, String, usize) {
    let stem = path
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default();
    match shard_parts(&stem) {
        Some((prefix, total)) => {
            let folder = path.parent().map(Path::to_path_buf).unwrap_or_default();
            (folder, prefix, total)
        }
        None => (path.to_path_buf(), String::new(), 1),
    }
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

/// Sorts weight files into roles by their headers (the shards of one
/// checkpoint together), and the tokenizer.json files by their model type
/// (CLIP's is BPE, T5's Unigram).
fn from_files(paths: &[PathBuf]) -> anyhow::Result<ModelChoice> {
    let mut weights: [Option<(Vec<PathBuf>, ModelConfig)>; 4] = [None, None, None, None];
    let (mut clip_tokenizer, mut t5_tokenizer) = (None, None);
    let mut sets: std::collections::BTreeMap<(PathBuf, String, usize), Vec<PathBuf>> =
        Default::default();
    for path in paths {
        if is_tokenizer(path) {
            let bytes =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            let kind = tokenizer_kind(&bytes)
                .with_context(|| format!("{} is not a tokenizer.json", path.display()))?;
            match kind.as_str() {
                "BPE" => clip_tokenizer = Some(bytes),
                "Unigram" => t5_tokenizer = Some(bytes),
                other => bail!(
                    "{}: a {other} tokenizer is neither CLIP's nor T5's",
                    path.display()
                ),
            }
            continue;
        }
        sets.entry(shard_set(path)).or_default().push(path.clone());
    }
    for ((_, prefix, total), mut shards) in sets {
        shards.sort();
        if shards.len() != total {
            bail!(
                "{prefix} has {total} shards, but {} were given",
                shards.len()
            );
        }
        let file = pollster::block_on(FileWeights::open_shards(open_all(&shards)?))?;
        let checkpoint = detect(file.name(), file.index())?;
        let slot = match checkpoint.role() {
            Role::Transformer => 0,
            Role::Autoencoder => 1,
            Role::Clip => 2,
            Role::T5 => 3,
        };
        if let Some((other, _)) = &weights[slot] {
            bail!(
                "{} and {} are both a {}; pass one",
                other[0].display(),
                shards[0].display(),
                checkpoint.role()
            );
        }
        weights[slot] = Some((shards, checkpoint.config));
    }
    let [transformer, autoencoder, clip, t5] = weights;
    let need = |slot: Option<(Vec<PathBuf>, ModelConfig)>, role: Role| {
        slot.ok_or_else(|| anyhow!("no {role} among the --model files"))
    };
    let transformer = need(transformer, Role::Transformer)?;
    let autoencoder = need(autoencoder, Role::Autoencoder)?;
    let clip = need(clip, Role::Clip)?;
    let t5 = need(t5, Role::T5)?;
    let ModelConfig::Transformer(flux) = &transformer.1 else {
        unreachable!("sorted by role")
    };
    let name = transformer.0[0]
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_else(|| "FLUX".into());
    Ok(ModelChoice {
        defaults: ModelDefaults::flux(&name, flux.guidance_embed),
        configs: None,
        files: ModelFiles {
            transformer: open_all(&transformer.0)?,
            autoencoder: open_all(&autoencoder.0)?,
            clip: open_all(&clip.0)?,
            t5: open_all(&t5.0)?,
            clip_tokenizer: clip_tokenizer
                .ok_or_else(|| anyhow!("no CLIP tokenizer.json among the --model files"))?,
            t5_tokenizer: t5_tokenizer
                .ok_or_else(|| anyhow!("no T5 tokenizer.json among the --model files"))?,
        },
    })
}

/// The `model.type` of a tokenizer.json ("BPE", "Unigram").
fn tokenizer_kind(bytes: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Tokenizer {
        model: Model,
    }
    #[derive(serde::Deserialize)]
    struct Model {
        #[serde(rename = "type")]
        kind: String,
    }
    let tokenizer: Tokenizer = serde_json::from_slice(bytes).ok()?;
    Some(tokenizer.model.kind)
}
