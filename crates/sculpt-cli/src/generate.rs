//! `sculpt generate`: one image from a prompt, written as a PNG whose text
//! chunks record how it was made.

use std::path::{Path, PathBuf};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use sculpt_flux::generation::{Frame, Pipeline, Preview, Show};
use sculpt_flux::pipeline::{GenerateRequest, ImageStart, InitImage, ModelDefaults};
use sculpt_gpu::GpuOptions;

use crate::model::{self, Device, Opened};

#[derive(clap::Args)]
pub struct GenerateArgs {
    /// The model: a manifest.json, a folder (with a manifest.json, or FLUX
    /// weight and tokenizer.json files), or the files themselves.
    /// Default: the built-in model, models/sculpt-tiny/manifest.json.
    #[arg(long, num_args = 1..)]
    model: Vec<PathBuf>,
    #[arg(long)]
    prompt: String,
    /// Denoising steps (default: the model's).
    #[arg(long)]
    steps: Option<usize>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Image width, a multiple of 16 (default: the model's, or the init image's).
    #[arg(long)]
    width: Option<usize>,
    /// Image height, a multiple of 16 (default: the model's, or the init image's).
    #[arg(long)]
    height: Option<usize>,
    /// The PNG to write.
    #[arg(long)]
    out: PathBuf,
    /// Also write every step's predicted clean image here (step-01.png, …).
    #[arg(long)]
    save_steps: Option<PathBuf>,
    /// How the saved steps before the last are decoded: full (the
    /// autoencoder, as the image would be) or fast (the model's preview
    /// decoder, a fraction of the cost). The final image is the same.
    #[arg(long, default_value = "full", requires = "save_steps")]
    preview: Preview,
    /// Image-to-image: start from this PNG (of the requested size).
    #[arg(long)]
    init_image: Option<PathBuf>,
    /// How much of the schedule image-to-image runs: 1 repaints everything,
    /// 0 keeps the init image.
    #[arg(long, default_value_t = 0.75, requires = "init_image")]
    strength: f32,
    /// True classifier-free guidance scale (a second, unconditional pass per
    /// step; default: the model's).
    #[arg(long)]
    cfg: Option<f32>,
    /// Embedded guidance of guidance-distilled (dev) models (default 3.5).
    #[arg(long)]
    guidance: Option<f32>,
    /// Run on the CPU (candle) instead of the GPU: the same image to
    /// rounding, much slower. Small models with a manifest only (the
    /// built-in one); imported FLUX checkpoints need the GPU.
    #[arg(long)]
    cpu: bool,
}

pub fn run(args: GenerateArgs) -> anyhow::Result<()> {
    let choice = model::resolve(&args.model)?;
    let defaults = choice.defaults.clone();
    let request = request(&args, &defaults)?;
    if let Some(dir) = &args.save_steps {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let (image, guidance_embed) =
        match choice.open(Device::choose(args.cpu, GpuOptions::default())?)? {
            Opened::Gpu(mut pipeline) => denoise(&mut *pipeline, &request, &args)?,
            Opened::Cpu(mut pipeline) => denoise(&mut *pipeline, &request, &args)?,
        };

    let mut text = vec![
        ("prompt", request.prompt.clone()),
        ("seed", request.seed.to_string()),
        ("steps", request.steps.to_string()),
        ("model", defaults.name.clone()),
    ];
    if let Some(cfg) = request.cfg_scale.or(defaults.cfg_scale) {
        text.push(("cfg", cfg.to_string()));
    }
    if guidance_embed {
        let guidance = request
            .guidance
            .unwrap_or(sculpt_flux::pipeline::DEFAULT_GUIDANCE);
        text.push(("guidance", guidance.to_string()));
    }
    if let Some(init) = &args.init_image {
        text.push(("init_image", init.display().to_string()));
        text.push(("strength", args.strength.to_string()));
    }
    write_png(&args.out, &image, &text)?;
    eprintln!("wrote {}", args.out.display());
    Ok(())
}

/// The request the arguments make, with the model's defaults filled in.
fn request(args: &GenerateArgs, defaults: &ModelDefaults) -> anyhow::Result<GenerateRequest> {
    let init_image = match &args.init_image {
        Some(path) => Some(read_png(path)?),
        None => None,
    };
    let [default_width, default_height] = match &init_image {
        Some(frame) => [frame.width, frame.height],
        None => defaults.resolution,
    };
    Ok(GenerateRequest {
        prompt: args.prompt.clone(),
        width: args.width.unwrap_or(default_width),
        height: args.height.unwrap_or(default_height),
        steps: args.steps.unwrap_or(defaults.steps),
        seed: args.seed,
        guidance: args.guidance,
        cfg_scale: args.cfg,
        init_image: init_image.map(|frame| InitImage {
            width: frame.width,
            height: frame.height,
            rgba: frame.rgba,
            start: ImageStart::Strength(args.strength),
        }),
    })
}

/// Runs every step with a progress bar (saving each step's predicted clean
/// image when asked) and decodes the final latent; also says whether the
/// model took dev's embedded guidance.
fn denoise(
    pipeline: &mut impl Pipeline,
    request: &GenerateRequest,
    args: &GenerateArgs,
) -> anyhow::Result<(Frame, bool)> {
    let guidance_embed = pipeline.configs().transformer().guidance_embed;
    let mut generation = pollster::block_on(pipeline.start(request))?;
    for warning in generation.truncations() {
        eprintln!("warning: {warning}");
    }
    let progress = ProgressBar::new(generation.step_count() as u64).with_style(
        ProgressStyle::with_template(
            "{msg:>10} [{bar:30}] {pos}/{len} steps, {elapsed} ({eta} left)",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    progress.set_message(if args.cpu { "CPU" } else { "denoising" });
    while let Some(step) = generation.step()? {
        if let Some(dir) = &args.save_steps {
            let decode = args.preview.decode_for_step(generation.finished());
            let latent = generation.latent(Show::PredictedClean);
            let frame = pollster::block_on(generation.frame_by(latent, decode))?;
            let path = dir.join(format!("step-{:02}.png", step.index + 1));
            write_png(
                &path,
                &frame,
                &[
                    ("step", (step.index + 1).to_string()),
                    ("t", step.t.to_string()),
                ],
            )?;
        }
        progress.inc(1);
    }
    progress.set_message("decoding");
    let image = pollster::block_on(generation.frame(Show::Current))?;
    progress.finish_and_clear();
    Ok((image, guidance_embed))
}

/// Writes an RGBA8 PNG with `text` as tEXt chunks (keyword, value).
pub fn write_png(path: &Path, frame: &Frame, text: &[(&str, String)]) -> anyhow::Result<()> {
    let bytes = frame.to_png(text)?;
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// Reads a PNG as RGBA8 (see [`Frame::from_png`]).
pub fn read_png(path: &Path) -> anyhow::Result<Frame> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot open {}", path.display()))?;
    Ok(Frame::from_png(&path.display().to_string(), &bytes)?)
}
