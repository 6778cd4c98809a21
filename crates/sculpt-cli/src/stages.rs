//! `sculpt bench stages`: how long each stage of a generation takes with a
//! model on this machine's GPU (the built-in model by default): opening its
//! files, the first start (loading the text encoders, running them on the
//! prompt, dropping them, loading the transformer and the autoencoder), a
//! later start (the text encoders alone, the rest stays loaded), one
//! denoising step, and decoding the latent to pixels, read back or drawn
//! into a texture as the page draws it; and drawing a step by the preview
//! decoder against the full one. Markdown on stdout, or with `--json` one
//! JSON object (medians in ms: `step_ms`, `frame_preview_ms`,
//! `frame_full_ms`, …) for scripts that check ratios.
//! With `--cpu`, the same for the CPU fallback (which loads every model
//! when it opens, and keeps them).

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use pollster::block_on;
use sculpt_flux::generation::{Backend, Decode, Generation, Pipeline, Show};
use sculpt_flux::gpu::GpuBackend;
use sculpt_flux::pipeline::{GenerateRequest, ModelDefaults};
use sculpt_gpu::GpuOptions;

use crate::model::{self, Device, Opened};

const PROMPT: &str = "a red circle on a blue background";

/// Frames timed with each decoder (after one untimed, which compiles a
/// GPU's pipelines).
const FRAMES: usize = 5;

pub fn run(
    model_paths: &[PathBuf],
    steps: usize,
    cpu: bool,
    json: bool,
    options: GpuOptions,
) -> anyhow::Result<()> {
    let choice = model::resolve(model_paths)?;
    let device = Device::choose(cpu, options)?;
    let started = Instant::now();
    let opened = choice.open(device)?;
    let open = started.elapsed();
    match opened {
        Opened::Gpu(mut pipeline) => {
            let gpu = pipeline.gpu();
            let device = format!(
                "{} ({}, {})",
                gpu.report.adapter_name, gpu.report.backend, gpu.report.device_type
            );
            let timings = time_stages(&mut *pipeline, steps, open, time_presents)?;
            report(
                &*pipeline,
                steps,
                &device,
                "gpu",
                json,
                &GPU_STAGES,
                timings,
            );
        }
        Opened::Cpu(mut pipeline) => {
            let threads = std::thread::available_parallelism().map_or(1, usize::from);
            let device = format!("the CPU with candle ({threads} threads)");
            let timings = time_stages(&mut *pipeline, steps, open, |_| Ok(Vec::new()))?;
            report(
                &*pipeline,
                steps,
                &device,
                "cpu",
                json,
                &CPU_STAGES,
                timings,
            );
        }
    }
    Ok(())
}

/// Times two starts, every step and two decodes (the first also compiles
/// the decoder's pipelines on a GPU), each until the backend has finished
/// its work; then `presents` on the finished generation.
fn time_stages<P: Pipeline>(
    pipeline: &mut P,
    steps: usize,
    open: Duration,
    presents: impl FnOnce(&Generation<P::Backend>) -> anyhow::Result<Vec<Duration>>,
) -> anyhow::Result<Timings> {
    let request = request(pipeline.defaults(), steps);
    let started = Instant::now();
    let generation = block_on(pipeline.start(&request))?;
    generation.backend().finish()?;
    drop(generation);
    let first_start = started.elapsed();

    let started = Instant::now();
    let mut generation = block_on(pipeline.start(&request))?;
    generation.backend().finish()?;
    let later_start = started.elapsed();

    let mut step_times = Vec::new();
    for _ in 0..generation.step_count() {
        let started = Instant::now();
        generation.step()?;
        generation.backend().finish()?;
        step_times.push(started.elapsed());
    }
    let latent = generation.latent(Show::Current);
    let frames = |decode| -> anyhow::Result<Vec<Duration>> {
        let mut times = Vec::new();
        for _ in 0..=FRAMES {
            let started = Instant::now();
            block_on(generation.frame_by(latent, decode))?;
            times.push(started.elapsed());
        }
        Ok(times)
    };
    let decodes = frames(Decode::Full)?;
    let previews = frames(Decode::Preview)?;
    Ok(Timings {
        open,
        first_start,
        later_start,
        steps: step_times,
        decodes,
        previews,
        presents: presents(&generation)?,
    })
}

/// The page's path for the final frame: decoded and drawn into a texture on
/// the GPU, never read back.
fn time_presents(generation: &Generation<GpuBackend>) -> anyhow::Result<Vec<Duration>> {
    let gpu = generation.backend().gpu();
    let [width, height] = generation.shape().image_size().map(|side| side as u32);
    let format = wgpu::TextureFormat::Rgba8Unorm;
    let texture = gpu.device.create_texture(&wgpu::TextureDescriptor {
        label: Some("bench canvas"),
        size: wgpu::Extent3d {
            width,
            height,
            depth_or_array_layers: 1,
        },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format,
        usage: wgpu::TextureUsages::RENDER_ATTACHMENT,
        view_formats: &[],
    });
    let view = texture.create_view(&Default::default());
    let mut presents = Vec::new();
    for _ in 0..2 {
        let started = Instant::now();
        let image = generation.image(Show::Current)?;
        sculpt_gpu::present::draw_image(gpu, &image, &view, format, (width, height))?;
        gpu.finish()?;
        presents.push(started.elapsed());
    }
    Ok(presents)
}

fn request(defaults: &ModelDefaults, steps: usize) -> GenerateRequest {
    GenerateRequest {
        prompt: PROMPT.into(),
        width: defaults.resolution[0],
        height: defaults.resolution[1],
        steps,
        seed: 1,
        guidance: None,
        cfg_scale: None,
        init_image: None,
    }
}

/// What each row measures, on each device.
const GPU_STAGES: [&str; 5] = [
    "open the files (headers, tokenizers)",
    "first start: text encoders loaded, run, dropped; transformer and autoencoder loaded",
    "later start: text encoders loaded, run, dropped",
    "one denoising step",
    "decode the latent to RGBA8 (autoencoder, readback",
];
const CPU_STAGES: [&str; 5] = [
    "open the files: read, checked and every model loaded (f32)",
    "first start: text encoders run on the prompt and the empty prompt, noise",
    "later start: the same",
    "one denoising step",
    "decode the latent to RGBA8 (autoencoder",
];

struct Timings {
    open: Duration,
    first_start: Duration,
    later_start: Duration,
    steps: Vec<Duration>,
    /// Full decodes to RGBA8: the first compiles, then [`FRAMES`] more.
    decodes: Vec<Duration>,
    /// The same by the preview decoder.
    previews: Vec<Duration>,
    /// Decode and draw into a texture, without readback (GPU only).
    presents: Vec<Duration>,
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// The median of `times` in ms (of those after `skip`).
fn median_ms(times: &[Duration], skip: usize) -> f64 {
    let mut sorted: Vec<f64> = times.iter().skip(skip).copied().map(ms).collect();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(0.0)
}

fn report(
    pipeline: &impl Pipeline,
    steps: usize,
    device: &str,
    engine: &str,
    json: bool,
    labels: &[&str; 5],
    t: Timings,
) {
    let defaults = pipeline.defaults();
    let request = request(defaults, steps);
    let step_ms = median_ms(&t.steps, 0);
    let frame_full_ms = median_ms(&t.decodes, 1);
    let frame_preview_ms = median_ms(&t.previews, 1);
    if json {
        let object = serde_json::json!({
            "model": defaults.name,
            "engine": engine,
            "device": device,
            "width": request.width,
            "height": request.height,
            "steps": steps,
            "cfg_scale": defaults.cfg_scale,
            "open_ms": ms(t.open),
            "first_start_ms": ms(t.first_start),
            "later_start_ms": ms(t.later_start),
            "step_ms": step_ms,
            "first_step_ms": t.steps.first().copied().map_or(0.0, ms),
            "frame_full_ms": frame_full_ms,
            "frame_preview_ms": frame_preview_ms,
            "drawn_step_full_ms": step_ms + frame_full_ms,
            "drawn_step_preview_ms": step_ms + frame_preview_ms,
            "present_full_ms": t.presents.get(1).copied().map(ms),
        });
        println!("{object}");
        return;
    }
    println!("# Stage benchmark\n");
    println!(
        "Model {} at {}×{}, {steps} steps{}, on {device}.\n",
        defaults.name,
        request.width,
        request.height,
        defaults.cfg_scale.map_or(String::new(), |s| format!(
            " with true CFG {s} (two transformer passes a step)"
        )),
    );
    println!("| stage | ms |");
    println!("|---|---|");
    println!("| {} | {:.1} |", labels[0], ms(t.open));
    println!("| {} | {:.1} |", labels[1], ms(t.first_start));
    println!("| {} | {:.1} |", labels[2], ms(t.later_start));
    println!(
        "| {} (median of {}; first {:.1}) | {step_ms:.1} |",
        labels[3],
        t.steps.len(),
        t.steps.first().copied().map_or(0.0, ms)
    );
    println!(
        "| {}; median of {FRAMES}, first {:.1}) | {frame_full_ms:.1} |",
        labels[4],
        ms(t.decodes[0]),
    );
    println!(
        "| the same by the preview decoder (median of {FRAMES}, first {:.1}) | {frame_preview_ms:.1} |",
        ms(t.previews[0]),
    );
    println!(
        "| a drawn step, full decode → preview (×{:.1} faster) | {:.1} → {:.1} |",
        (step_ms + frame_full_ms) / (step_ms + frame_preview_ms).max(1e-9),
        step_ms + frame_full_ms,
        step_ms + frame_preview_ms,
    );
    if let [first, second] = t.presents[..] {
        println!(
            "| decode the latent and draw it into a texture (the page's path: no readback; first {:.1}) | {:.1} |",
            ms(first),
            ms(second)
        );
    }
}
