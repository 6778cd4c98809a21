//! Finding a model's files from `--model`: a manifest, a folder, or the
//! weight and tokenizer files themselves (each file's role read from its
//! header).

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use std::rc::Rc;

use anyhow::{Context, bail};
use sculpt_flux::cpu::CpuPipeline;
use sculpt_flux::family::ModelConfigs;
use sculpt_flux::formats::FileSource;
use sculpt_flux::gpu::GpuPipeline;
use sculpt_flux::pipeline::{
    Manifest, ManifestFile, ModelDefaults, ModelFiles, is_tokenizer_name, is_weights_name,
    sort_loose_files,
};
use sculpt_gpu::{Gpu, GpuOptions};
use sha2::{Digest, Sha256};

/// Where the built-in model is installed, relative to this crate.
pub const BUILT_IN_MANIFEST: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../models/sculpt-tiny/manifest.json"
);

/// A model ready to open on a backend.
pub struct ModelChoice {
    pub defaults: ModelDefaults,
    pub configs: Option<ModelConfigs>,
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

/// A model opened on the GPU or on the CPU: commands match on it once and
/// hand either to code generic over [`sculpt_flux::generation::Pipeline`].
pub enum Opened {
    // Boxed: a GPU pipeline is small, the CPU one holds its models inline.
    Gpu(Box<GpuPipeline<FileSource>>),
    Cpu(Box<CpuPipeline>),
}

/// Where a model runs.
pub enum Device {
    /// The CPU fallback (candle): models with a manifest only.
    Cpu,
    Gpu(Rc<Gpu>),
}

impl Device {
    /// The CPU when `cpu`, else a GPU device made with `options`.
    pub fn choose(cpu: bool, options: GpuOptions) -> anyhow::Result<Self> {
        Ok(if cpu {
            Self::Cpu
        } else {
            Self::Gpu(Rc::new(pollster::block_on(Gpu::with_options(options))?))
        })
    }
}

impl ModelChoice {
    /// Opens the model on `device`.
    pub fn open(self, device: Device) -> anyhow::Result<Opened> {
        Ok(match device {
            Device::Cpu => {
                let Some(configs) = self.configs else {
                    bail!(
                        "--cpu runs models described by a manifest.json (the built-in one); \
                         imported FLUX checkpoints run on the GPU only"
                    );
                };
                Opened::Cpu(Box::new(pollster::block_on(CpuPipeline::open(
                    self.defaults,
                    configs,
                    self.files,
                ))?))
            }
            Device::Gpu(gpu) => Opened::Gpu(Box::new(pollster::block_on(GpuPipeline::open(
                gpu,
                self.defaults,
                self.configs,
                self.files,
            ))?)),
        })
    }
}

fn from_manifest(path: &Path) -> anyhow::Result<ModelChoice> {
    let json = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let manifest = Manifest::from_json(&path.display().to_string(), &json)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let files = pollster::block_on(ModelFiles::of_manifest(
        &manifest,
        async |file| open_checked(dir, file),
        async |file| read_checked(dir, file),
    ))?;
    Ok(ModelChoice {
        defaults: ModelDefaults::of_manifest(&manifest),
        configs: Some(manifest.config.clone()),
        files,
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
    is_tokenizer_name(&path.to_string_lossy())
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
            } else if is_tokenizer(&path) || is_weights_name(&path.to_string_lossy()) {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Sorts weight files into roles by their headers (the shards of one
/// checkpoint together), and the tokenizer.json files by their model type
/// (CLIP's is BPE, T5's Unigram).
fn from_files(paths: &[PathBuf]) -> anyhow::Result<ModelChoice> {
    let model = pollster::block_on(sort_loose_files(open_all(paths)?))?;
    if let Some(file) = model.ignored.first() {
        bail!("{file} is neither a weight file (.gguf, .safetensors) nor a tokenizer.json");
    }
    Ok(ModelChoice {
        defaults: model.defaults,
        configs: None,
        files: model.files,
    })
}
