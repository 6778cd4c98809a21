//! What the eval generates with: anything that turns (prompt, seed, steps) into an image. The
//! eval is written against [`Generator`]; [`PipelineGenerator`] runs it on either of
//! `sculpt-flux`'s pipelines: the CPU one (candle; the default, fast for this small model on a
//! machine without a GPU) or the GPU one (wgpu). Both give the same pixels within 1/255
//! (`sculpt-flux`'s `gpu_cpu_parity` test).

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::Context;
use std::rc::Rc;

use sculpt_flux::cpu::CpuPipeline;
use sculpt_flux::formats::FileSource;
use sculpt_flux::generation::Pipeline;
use sculpt_flux::gpu::GpuPipeline;
use sculpt_flux::pipeline::{
    GenerateRequest, ImageStart, InitImage, Manifest, ModelDefaults, ModelFiles,
};
use sculpt_gpu::Gpu;

use crate::image::RgbImage;

pub trait Generator {
    /// The engine and device, for the report.
    fn describe(&self) -> String;
    /// The model's default step count.
    fn default_steps(&self) -> usize;
    fn generate(&mut self, prompt: &str, seed: u64, steps: usize) -> anyhow::Result<RgbImage>;
    /// `image` through the autoencoder and back (image-to-image at strength 0: no denoising
    /// step), which bounds what any of the model's images can show.
    fn round_trip(&mut self, image: &RgbImage) -> anyhow::Result<RgbImage>;
}

/// The built-in model's manifest in this repository.
pub fn builtin_manifest() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/sculpt-tiny/manifest.json")
}

/// A model opened on one of Sculpt's pipelines, generating at the model's resolution and
/// guidance.
pub struct PipelineGenerator<P> {
    pipeline: P,
    /// The engine and device, for the report.
    description: String,
}

/// The manifest at `manifest_path` and its files, opened.
fn open_manifest(manifest_path: &Path) -> anyhow::Result<(Manifest, ModelFiles<FileSource>)> {
    let json = std::fs::read(manifest_path)
        .with_context(|| format!("cannot read {}", manifest_path.display()))?;
    let manifest = Manifest::from_json(&manifest_path.display().to_string(), &json)?;
    let dir = manifest_path.parent().unwrap_or(Path::new("."));
    let open = |name: &str| -> anyhow::Result<FileSource> {
        let path = dir.join(name);
        let file = File::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
        Ok(FileSource::new(file, path.display().to_string())?)
    };
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))
    };
    let model_files = pollster::block_on(ModelFiles::of_manifest(
        &manifest,
        async |file| open(&file.path),
        async |file| read(&file.path),
    ))?;
    Ok((manifest, model_files))
}

/// A request that encodes `image` and decodes it again, untouched.
fn round_trip_request(defaults: &ModelDefaults, image: &RgbImage) -> GenerateRequest {
    GenerateRequest {
        init_image: Some(InitImage {
            width: image.width,
            height: image.height,
            rgba: image.to_rgba(),
            start: ImageStart::Strength(0.0),
        }),
        // Any prompt: no denoising step reads it.
        ..request(defaults, "autoencoder round trip", 0, defaults.steps)
    }
}

/// The request for one image at the model's resolution and guidance.
pub(crate) fn request(
    defaults: &ModelDefaults,
    prompt: &str,
    seed: u64,
    steps: usize,
) -> GenerateRequest {
    let [width, height] = defaults.resolution;
    GenerateRequest {
        prompt: prompt.into(),
        width,
        height,
        steps,
        seed,
        guidance: None,
        cfg_scale: None,
        init_image: None,
    }
}

impl PipelineGenerator<GpuPipeline<FileSource>> {
    /// The GPU pipeline (wgpu: a real GPU, or lavapipe where there is none).
    pub fn open_gpu(manifest_path: &Path) -> anyhow::Result<Self> {
        let (manifest, model_files) = open_manifest(manifest_path)?;
        let gpu = pollster::block_on(Gpu::new())?;
        let report = &gpu.report;
        let description = format!(
            "GPU pipeline on {} ({}, {})",
            report.adapter_name, report.backend, report.device_type
        );
        let pipeline = pollster::block_on(GpuPipeline::open(
            Rc::new(gpu),
            ModelDefaults::of_manifest(&manifest),
            Some(manifest.config.clone()),
            model_files,
        ))?;
        Ok(Self {
            pipeline,
            description,
        })
    }
}

impl PipelineGenerator<CpuPipeline> {
    /// The CPU pipeline (candle-transformers' models), as the page runs without WebGPU.
    pub fn open_cpu(manifest_path: &Path) -> anyhow::Result<Self> {
        let (manifest, model_files) = open_manifest(manifest_path)?;
        let pipeline = pollster::block_on(CpuPipeline::open(
            ModelDefaults::of_manifest(&manifest),
            manifest.config.clone(),
            model_files,
        ))?;
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        Ok(Self {
            pipeline,
            description: format!("CPU pipeline (candle, {threads} threads)"),
        })
    }
}

impl<P: Pipeline> Generator for PipelineGenerator<P> {
    fn describe(&self) -> String {
        self.description.clone()
    }

    fn default_steps(&self) -> usize {
        self.pipeline.defaults().steps
    }

    fn generate(&mut self, prompt: &str, seed: u64, steps: usize) -> anyhow::Result<RgbImage> {
        let request = request(self.pipeline.defaults(), prompt, seed, steps);
        self.run(&request)
    }

    fn round_trip(&mut self, image: &RgbImage) -> anyhow::Result<RgbImage> {
        let request = round_trip_request(self.pipeline.defaults(), image);
        self.run(&request)
    }
}

impl<P: Pipeline> PipelineGenerator<P> {
    /// The pipeline itself, to drive generations a step at a time.
    pub fn pipeline_mut(&mut self) -> &mut P {
        &mut self.pipeline
    }

    fn run(&mut self, request: &GenerateRequest) -> anyhow::Result<RgbImage> {
        let frame = pollster::block_on(self.pipeline.generate(request, |_, _| Ok(())))?;
        Ok(RgbImage::from_rgba(frame.width, frame.height, &frame.rgba))
    }
}
