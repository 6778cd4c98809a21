//! A step-level run kept between messages (see [`crate::protocol`]'s
//! `start_run` and the messages after it): the visualizer and the widget
//! step it, scrub its history, noise its image and restart it, on either
//! backend, with the same generic code.

use sculpt_flux::{
    cpu::CpuBackend,
    generation::{Backend, Generation},
    gpu::GpuBackend,
    pipeline::{GenerateRequest, ImageStart, InitImage},
};

use super::generation::{Screen, now_ms, show_of};
use crate::protocol::{FromEngine, RUN_HISTORY_LIMIT, RunSettings, ShowLatent};

/// A run on the engine's device.
pub enum Run {
    // Boxed: the two backends differ in size.
    Gpu(Box<Generation<GpuBackend>>),
    Cpu(Box<Generation<CpuBackend>>),
}

/// The run a page started, and which latent its steps show.
pub struct ActiveRun {
    pub run: Run,
    pub show: ShowLatent,
}

/// The request a run's settings make: from pure noise, or from the image
/// noised to `t`.
pub fn request(settings: &RunSettings) -> Result<GenerateRequest, String> {
    let init_image = match (&settings.image, settings.t) {
        (None, None) => None,
        (Some(image), Some(t)) => Some(InitImage {
            width: image.width,
            height: image.height,
            rgba: image.rgba.clone(),
            start: ImageStart::Time(t),
        }),
        (Some(_), None) => {
            return Err(
                "a run from an image needs the time t to noise it to (1 is pure noise)".into(),
            );
        }
        (None, Some(_)) => {
            return Err("t is the time a start image is noised to, but no image was given".into());
        }
    };
    if settings.history > RUN_HISTORY_LIMIT {
        return Err(format!(
            "a run keeps at most {RUN_HISTORY_LIMIT} steps for scrubbing, not {}",
            settings.history
        ));
    }
    Ok(super::generation::request(&settings.generate, init_image))
}

/// Draws a run's start latent and says what the run will visit.
pub async fn started<B: Backend>(
    generation: &Generation<B>,
    screen: &impl Screen<B>,
) -> Result<FromEngine, String> {
    let [width, height] = generation.shape().image_size();
    screen.prepare(width, height)?;
    screen
        .draw(generation, generation.latent(show_of(ShowLatent::Current)))
        .await?;
    Ok(FromEngine::RunStarted {
        schedule: generation.schedule().to_vec(),
        history: generation.history().capacity(),
        warnings: generation
            .truncations()
            .iter()
            .map(ToString::to_string)
            .collect(),
    })
}

/// Runs the next step and draws the latent `show` names.
pub async fn step<B: Backend>(
    generation: &mut Generation<B>,
    screen: &impl Screen<B>,
    show: ShowLatent,
) -> Result<FromEngine, String> {
    let started = now_ms();
    let Some(step) = generation.step().map_err(|e| e.to_string())? else {
        return Err(format!(
            "this run has taken all its {} steps: restart it at a time t, or start another",
            generation.step_count()
        ));
    };
    screen
        .draw(generation, generation.latent(show_of(show)))
        .await?;
    Ok(FromEngine::Step {
        index: step.index,
        count: step.count,
        t: step.t,
        ms: now_ms() - started,
    })
}

/// Draws step `step` of the history (`None`: the run's latest state).
pub async fn draw<B: Backend>(
    generation: &Generation<B>,
    screen: &impl Screen<B>,
    step: Option<usize>,
    show: ShowLatent,
) -> Result<FromEngine, String> {
    let (latent, t) = match step {
        None => (generation.latent(show_of(show)), generation.t()),
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
            (record.latent(show_of(show)), record.t)
        }
    };
    screen.draw(generation, latent).await?;
    Ok(FromEngine::RunDrawn { step, show, t })
}

/// Draws the run's clean image noised to `t` (no model runs).
pub async fn noise<B: Backend>(
    generation: &Generation<B>,
    screen: &impl Screen<B>,
    t: f64,
) -> Result<FromEngine, String> {
    let noised = generation.forward(t).map_err(|e| e.to_string())?;
    screen.draw(generation, &noised).await?;
    Ok(FromEngine::RunDrawn {
        step: None,
        show: ShowLatent::Current,
        t,
    })
}

/// Starts the run again from its clean image noised to `t`.
pub async fn restart<B: Backend>(
    generation: &mut Generation<B>,
    screen: &impl Screen<B>,
    t: f64,
) -> Result<FromEngine, String> {
    generation.restart_at(t).map_err(|e| e.to_string())?;
    started(generation, screen).await
}
