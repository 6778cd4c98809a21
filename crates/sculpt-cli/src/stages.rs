//! `sculpt bench stages`: how long each stage of a generation takes with a
//! model on this machine's GPU (the built-in model by default): opening its
//! files, the first start (loading the text encoders, running them on the
//! prompt, dropping them, loading the transformer and the autoencoder), a
//! later start (the text encoders alone, the rest stays loaded), one
//! denoising step, and decoding the latent to pixels, read back or drawn
//! into a texture as the page draws it. Markdown on stdout.
//! With `--cpu`, the same for the CPU fallback (which loads every model
//! when it opens, and keeps them).

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use pollster::block_on;
use sculpt_flux::generation::{Backend, Generation, Pipeline, Show};
use sculpt_flux::gpu::GpuBackend;
use sculpt_flux::pipeline::{GenerateRequest, ModelDefaults};
use sculpt_gpu::GpuOptions;

use crate::model::{self, Device, Opened};

const PROMPT: &str = "a red circle on a blue background";

pub fn run(
    model_paths: &[PathBuf],
    steps: usize,
    cpu: bool,
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
            print_table(&*pipeline, steps, &device, &GPU_STAGES, timings);
        }
        Opened::Cpu(mut pipeline) => {
            let threads = std::thread::available_parallelism().map_or(1, usize::from);
            let device = format!("the CPU with candle ({threads} threads)");
            let timings = time_stages(&mut *pipeline, steps, open, |_| Ok(Vec::new()))?;
            print_table(&*pipeline, steps, &device, &CPU_STAGES, timings);
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
    let mut decodes = Vec::new();
    for _ in 0..2 {
        let started = Instant::now();
        block_on(generation.frame(Show::Current))?;
        decodes.push(started.elapsed());
    }
    Ok(Timings {
        open,
        first_start,
        later_start,
        steps: step_times,
        decodes,
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
    decodes: Vec<Duration>,
    /// Decode and draw into a texture, without readback (GPU only).
    presents: Vec<Duration>,
}

fn print_table(
    pipeline: &impl Pipeline,
    steps: usize,
    device: &str,
    labels: &[&str; 5],
    t: Timings,
) {
    let defaults = pipeline.defaults();
    let request = request(defaults, steps);
    let Timings {
        open,
        first_start,
        later_start,
        steps: step_times,
        decodes,
        presents,
    } = t;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mut sorted: Vec<f64> = step_times.iter().copied().map(ms).collect();
    sorted.sort_by(f64::total_cmp);
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or(0.0);
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
    println!("| {} | {:.1} |", labels[0], ms(open));
    println!("| {} | {:.1} |", labels[1], ms(first_start));
    println!("| {} | {:.1} |", labels[2], ms(later_start));
    println!(
        "| {} (median of {}; first {:.1}) | {median:.1} |",
        labels[3],
        sorted.len(),
        step_times.first().copied().map_or(0.0, ms)
    );
    println!(
        "| {}; first {:.1}) | {:.1} |",
        labels[4],
        ms(decodes[0]),
        ms(decodes[1])
    );
    if let [first, second] = presents[..] {
        println!(
            "| decode the latent and draw it into a texture (the page's path: no readback; first {:.1}) | {:.1} |",
            ms(first),
            ms(second)
        );
    }
}
