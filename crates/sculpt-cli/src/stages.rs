//! `sculpt bench stages`: how long each stage of a generation takes with a
//! model on this machine's GPU (the built-in model by default): opening its
//! files, the first start (loading the text encoders, running them on the
//! prompt, dropping them, loading the transformer and the autoencoder), a
//! later start (the text encoders alone, the rest stays loaded), one
//! denoising step, and decoding the latent to pixels. Markdown on stdout.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use pollster::block_on;
use sculpt_flux::pipeline::{GenerateRequest, Pipeline, Show};
use sculpt_gpu::Gpu;

use crate::model;

const PROMPT: &str = "a red circle on a blue background";

pub fn run(model_paths: &[PathBuf], steps: usize) -> anyhow::Result<()> {
    let choice = model::resolve(model_paths)?;
    let gpu = block_on(Gpu::new())?;
    let started = Instant::now();
    let mut pipeline = block_on(Pipeline::open(
        &gpu,
        choice.defaults,
        choice.configs,
        choice.files,
    ))?;
    let open = started.elapsed();
    let defaults = pipeline.defaults().clone();
    let request = GenerateRequest {
        prompt: PROMPT.into(),
        width: defaults.resolution[0],
        height: defaults.resolution[1],
        steps,
        seed: 1,
        guidance: None,
        cfg_scale: None,
        init_image: None,
    };

    // Each stage is timed until the GPU has finished its work.
    let started = Instant::now();
    drop(block_on(pipeline.start(&gpu, &request))?);
    gpu.finish()?;
    let first_start = started.elapsed();

    let started = Instant::now();
    let mut generation = block_on(pipeline.start(&gpu, &request))?;
    gpu.finish()?;
    let later_start = started.elapsed();

    let mut step_times = Vec::new();
    for _ in 0..generation.step_count() {
        let started = Instant::now();
        generation.step()?;
        gpu.finish()?;
        step_times.push(started.elapsed());
    }

    // The first decode also compiles the decoder's pipelines.
    let mut decodes = Vec::new();
    for _ in 0..2 {
        let started = Instant::now();
        block_on(generation.frame(Show::Current))?;
        decodes.push(started.elapsed());
    }

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mut sorted: Vec<f64> = step_times.iter().copied().map(ms).collect();
    sorted.sort_by(f64::total_cmp);
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or(0.0);
    println!("# Stage benchmark\n");
    println!(
        "Model {} at {}×{}, {steps} steps{}, on {} ({}, {}).\n",
        defaults.name,
        request.width,
        request.height,
        defaults.cfg_scale.map_or(String::new(), |s| format!(
            " with true CFG {s} (two transformer passes a step)"
        )),
        gpu.report.adapter_name,
        gpu.report.backend,
        gpu.report.device_type
    );
    println!("| stage | ms |");
    println!("|---|---|");
    println!("| open the files (headers, tokenizers) | {:.1} |", ms(open));
    println!(
        "| first start: text encoders loaded, run, dropped; transformer and autoencoder loaded | {:.1} |",
        ms(first_start)
    );
    println!(
        "| later start: text encoders loaded, run, dropped | {:.1} |",
        ms(later_start)
    );
    println!(
        "| one denoising step (median of {}; first {:.1}) | {median:.1} |",
        sorted.len(),
        step_times.first().copied().map_or(0.0, ms)
    );
    println!(
        "| decode the latent to RGBA8 (autoencoder, readback; first {:.1}) | {:.1} |",
        ms(decodes[0]),
        ms(decodes[1])
    );
    Ok(())
}
