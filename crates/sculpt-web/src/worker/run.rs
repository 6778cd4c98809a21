//! A step-level run kept between messages (see [`crate::protocol`]'s
//! `start_run` and the messages after it): the visualizer and the widget
//! step it, scrub its history, noise its image and restart it, on either
//! backend, with the same generic code. What a run shows goes to the
//! engine's canvas, or back to the page as pixels when the run was started
//! with `frames` ([`RunSettings::frames`]).

use sculpt_flux::{
    cpu::CpuBackend,
    generation::{Backend, Decode, Generation, Preview, Show},
    gpu::GpuBackend,
};

use super::generation::{Screen, chosen, now_ms};
use crate::protocol::{FromEngine, RunFrame, RunLatent, RunSettings, ShowLatent};

/// A run on the engine's device.
pub enum Run {
    // Boxed: the two backends differ in size.
    Gpu(Box<Generation<GpuBackend>>),
    Cpu(Box<Generation<CpuBackend>>),
}

/// The run a page started, which latent its steps show on the canvas, how
/// they are decoded, and which it sends back as pixels instead (none: it
/// draws on the canvas).
pub struct ActiveRun {
    pub run: Run,
    pub show: ShowLatent,
    pub preview: Preview,
    pub frames: Readback,
}

/// What a run sends back instead of drawing on the canvas.
#[derive(Clone, Debug, Default)]
pub struct Readback {
    /// The latents decoded to pixels (none: drawn on the canvas).
    pub shows: Vec<ShowLatent>,
    /// Each frame carries its latent's values too.
    pub latents: bool,
}

impl Readback {
    pub fn of(settings: &RunSettings) -> Self {
        Self {
            shows: settings.frames.clone(),
            latents: settings.latents,
        }
    }
}

/// Draws a run's start latent and says what the run will visit.
pub async fn started<B: Backend>(
    generation: &Generation<B>,
    screen: &impl Screen<B>,
    frames: &Readback,
) -> Result<FromEngine, String> {
    let [width, height] = generation.shape().image_size();
    let start = generation.latent(Show::Current);
    let frames = show_noisy(generation, frames, start).await?;
    if frames.is_empty() {
        screen.prepare(width, height)?;
        screen.draw(generation, start, Decode::Full).await?;
    }
    Ok(FromEngine::RunStarted {
        schedule: generation.schedule().to_vec(),
        history: generation.history().capacity(),
        warnings: generation
            .truncations()
            .iter()
            .map(ToString::to_string)
            .collect(),
        frames,
    })
}

/// Runs the next step and draws the latent `show` names (or sends back
/// the latents `frames` names).
pub async fn step<B: Backend>(
    generation: &mut Generation<B>,
    screen: &impl Screen<B>,
    show: ShowLatent,
    preview: Preview,
    frames: &Readback,
) -> Result<FromEngine, String> {
    let started = now_ms();
    let Some(step) = generation.step().map_err(|e| e.to_string())? else {
        return Err(format!(
            "this run has taken all its {} steps: restart it at a time t, or start another",
            generation.step_count()
        ));
    };
    let decode = preview.decode_for_step(generation.finished());
    let frames = present(generation, screen, show, frames, decode, |show| {
        generation.latent(show)
    })
    .await?;
    Ok(FromEngine::Step {
        index: step.index,
        count: step.count,
        t: step.t,
        ms: now_ms() - started,
        frames,
    })
}

/// Draws step `step` of the history (`None`: the run's latest state), or
/// sends back the latents `frames` names there.
pub async fn draw<B: Backend>(
    generation: &Generation<B>,
    screen: &impl Screen<B>,
    step: Option<usize>,
    show: ShowLatent,
    frames: &Readback,
) -> Result<FromEngine, String> {
    let (frames, t) = match step {
        None => (
            present(generation, screen, show, frames, Decode::Full, |show| {
                generation.latent(show)
            })
            .await?,
            generation.t(),
        ),
        Some(index) => {
            let history = generation.history();
            let record = history.get(index).ok_or_else(|| {
                let kept = history.kept();
                if kept.is_empty() {
                    format!("step {index} is not kept: this run keeps no history")
                } else {
                    format!(
                        "step {index} is not kept: this run keeps steps {} to {}",
                        kept.start,
                        kept.end - 1
                    )
                }
            })?;
            let frames = present(generation, screen, show, frames, Decode::Full, |show| {
                record.latent(show)
            })
            .await?;
            (frames, record.t)
        }
    };
    Ok(FromEngine::RunDrawn {
        step,
        show,
        t,
        frames,
    })
}

/// Draws the run's clean image noised to `t` (no model runs).
pub async fn noise<B: Backend>(
    generation: &Generation<B>,
    screen: &impl Screen<B>,
    t: f64,
    frames: &Readback,
) -> Result<FromEngine, String> {
    let noised = generation.forward(t).map_err(|e| e.to_string())?;
    let frames = show_noisy(generation, frames, &noised).await?;
    if frames.is_empty() {
        screen.draw(generation, &noised, Decode::Full).await?;
    }
    Ok(FromEngine::RunDrawn {
        step: None,
        show: ShowLatent::Current,
        t,
        frames,
    })
}

/// Starts the run again from its clean image noised to `t`.
pub async fn restart<B: Backend>(
    generation: &mut Generation<B>,
    screen: &impl Screen<B>,
    t: f64,
    frames: &Readback,
) -> Result<FromEngine, String> {
    generation.restart_at(t).map_err(|e| e.to_string())?;
    started(generation, screen, frames).await
}

/// Draws the latent `show` names on the canvas, or, when the run sends
/// pixels back, decodes each latent `frames` names (`stored` finds the
/// latents the step keeps), by the decoder `decode` names.
async fn present<'a, B: Backend>(
    generation: &'a Generation<B>,
    screen: &impl Screen<B>,
    show: ShowLatent,
    frames: &Readback,
    decode: Decode,
    stored: impl Fn(Show) -> &'a B::Latent,
) -> Result<Vec<RunFrame>, String> {
    if frames.shows.is_empty() {
        let latent = chosen(generation, show, &stored)?;
        screen.draw(generation, &latent, decode).await?;
        return Ok(Vec::new());
    }
    let mut read = Vec::with_capacity(frames.shows.len());
    for &show in &frames.shows {
        let latent = chosen(generation, show, &stored)?;
        read.push(pixels(generation, show, &latent, frames.latents, decode).await?);
    }
    Ok(read)
}

/// A noisy latent with nothing predicted for it (a start, the forward
/// process): its pixels when the run sends any back, else nothing (the
/// caller draws it).
async fn show_noisy<B: Backend>(
    generation: &Generation<B>,
    frames: &Readback,
    latent: &B::Latent,
) -> Result<Vec<RunFrame>, String> {
    if frames.shows.is_empty() {
        return Ok(Vec::new());
    }
    Ok(vec![
        pixels(
            generation,
            ShowLatent::Current,
            latent,
            frames.latents,
            Decode::Full,
        )
        .await?,
    ])
}

/// `latent` decoded to pixels, with its values when `with_latent`.
async fn pixels<B: Backend>(
    generation: &Generation<B>,
    show: ShowLatent,
    latent: &B::Latent,
    with_latent: bool,
    decode: Decode,
) -> Result<RunFrame, String> {
    let frame = generation
        .frame_by(latent, decode)
        .await
        .map_err(|e| e.to_string())?;
    let latent = if with_latent {
        let shape = generation.shape();
        let values = generation
            .latent_values(latent)
            .await
            .map_err(|e| e.to_string())?;
        Some(RunLatent::new(
            shape.channels,
            shape.height,
            shape.width,
            &values,
        ))
    } else {
        None
    };
    Ok(RunFrame {
        show,
        width: frame.width,
        height: frame.height,
        rgba: frame.rgba,
        latent,
    })
}
