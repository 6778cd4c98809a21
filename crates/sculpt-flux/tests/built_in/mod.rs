//! The shipped built-in model (models/sculpt-tiny) as the pipelines open it:
//! its manifest's defaults and configurations, its files in memory.

use std::path::PathBuf;
use std::rc::Rc;

use sculpt_flux::formats::MemorySource;
use sculpt_flux::gpu::GpuPipeline;
use sculpt_flux::pipeline::{Manifest, ModelDefaults, ModelFiles};
use sculpt_gpu::Gpu;

pub type Source = MemorySource<Vec<u8>>;

pub fn model_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/sculpt-tiny")
}

pub fn manifest() -> Manifest {
    let path = model_dir().join("manifest.json");
    Manifest::from_json("manifest.json", &std::fs::read(path).unwrap()).unwrap()
}

pub fn files(manifest: &Manifest) -> ModelFiles<Source> {
    let read = |path: &str| -> Result<Vec<u8>, Box<dyn std::error::Error>> {
        Ok(std::fs::read(model_dir().join(path))?)
    };
    pollster::block_on(ModelFiles::of_manifest(
        manifest,
        async |file| read(&file.path).map(|bytes| MemorySource::new(&file.path, bytes)),
        async |file| read(&file.path),
    ))
    .unwrap()
}

pub fn defaults(manifest: &Manifest) -> ModelDefaults {
    ModelDefaults::of_manifest(manifest)
}

/// `manifest`'s model with `files`, opened on `gpu`.
#[allow(dead_code)] // not every test binary opens on both backends
pub fn open_gpu(
    gpu: &Rc<Gpu>,
    manifest: &Manifest,
    files: ModelFiles<Source>,
) -> GpuPipeline<Source> {
    pollster::block_on(GpuPipeline::open(
        Rc::clone(gpu),
        defaults(manifest),
        Some(manifest.config.clone()),
        files,
    ))
    .unwrap()
}

/// `manifest`'s model with `files`, opened on the CPU.
#[cfg(feature = "cpu")]
#[allow(dead_code)]
pub fn open_cpu(manifest: &Manifest, files: ModelFiles<Source>) -> sculpt_flux::cpu::CpuPipeline {
    pollster::block_on(sculpt_flux::cpu::CpuPipeline::open(
        defaults(manifest),
        manifest.config.clone(),
        files,
    ))
    .unwrap()
}

/// The largest difference of one channel, and how many channels differ.
pub fn difference(a: &[u8], b: &[u8]) -> (u8, usize) {
    assert_eq!(a.len(), b.len());
    let worst = a.iter().zip(b).map(|(x, y)| x.abs_diff(*y)).max().unwrap();
    (worst, a.iter().zip(b).filter(|(x, y)| x != y).count())
}
