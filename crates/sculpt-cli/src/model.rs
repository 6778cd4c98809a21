//! Finding a model's files from `--model`: a manifest, a folder, or the
//! weight and tokenizer files themselves (each file's role read from its
//! header).

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use sculpt_flux::checkpoint::{ModelConfig, Role, detect};
use sculpt_flux::formats::{FileSource, read_weight_file};
use sculpt_flux::pipeline::{Manifest, ManifestConfig, ManifestFile, ModelDefaults, ModelFiles};
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
            transformer: open_checked(dir, &files.transformer)?,
            autoencoder: open_checked(dir, &files.autoencoder)?,
            clip: open_checked(dir, &files.clip)?,
            t5: open_checked(dir, &files.t5)?,
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

/// Sorts weight files into roles by their headers, and the tokenizer.json
/// files by their model type (CLIP's is BPE, T5's Unigram).
fn from_files(paths: &[PathBuf]) -> anyhow::Result<ModelChoice> {
    let mut weights: [Option<(PathBuf, ModelConfig)>; 4] = [None, None, None, None];
    let (mut clip_tokenizer, mut t5_tokenizer) = (None, None);
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
        let mut source = open_source(path)?;
        let file = pollster::block_on(read_weight_file(&mut source))?;
        let checkpoint = detect(&path.display().to_string(), file.index())?;
        let slot = match checkpoint.role() {
            Role::Transformer => 0,
            Role::Autoencoder => 1,
            Role::Clip => 2,
            Role::T5 => 3,
        };
        if let Some((other, _)) = &weights[slot] {
            bail!(
                "{} and {} are both a {}; pass one",
                other.display(),
                path.display(),
                checkpoint.role()
            );
        }
        weights[slot] = Some((path.clone(), checkpoint.config));
    }
    let [transformer, autoencoder, clip, t5] = weights;
    let need = |slot: Option<(PathBuf, ModelConfig)>, role: Role| {
        slot.ok_or_else(|| anyhow!("no {role} among the --model files"))
    };
    let transformer = need(transformer, Role::Transformer)?;
    let autoencoder = need(autoencoder, Role::Autoencoder)?;
    let clip = need(clip, Role::Clip)?;
    let t5 = need(t5, Role::T5)?;
    let ModelConfig::Transformer(flux) = &transformer.1 else {
        unreachable!("sorted by role")
    };
    let name = transformer
        .0
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_else(|| "FLUX".into());
    Ok(ModelChoice {
        defaults: ModelDefaults::flux(&name, flux.guidance_embed),
        configs: None,
        files: ModelFiles {
            transformer: open_source(&transformer.0)?,
            autoencoder: open_source(&autoencoder.0)?,
            clip: open_source(&clip.0)?,
            t5: open_source(&t5.0)?,
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
