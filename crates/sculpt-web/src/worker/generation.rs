//! One generation in the worker: every step is drawn on the canvas (the
//! noisy image or the predicted clean one, as the page chooses), and between
//! steps the worker waits for the GPU, which lets the page's cancel and show
//! messages in.

use sculpt_flux::{
    formats::ByteSource,
    pipeline::{Frame, GenerateRequest, Generation, Pipeline, Show, StepInfo},
};
use sculpt_gpu::Gpu;

use super::{Controls, canvas::CanvasTarget};
use crate::protocol::{FromEngine, GenerateSettings, ShowLatent};

pub async fn run<S: ByteSource>(
    gpu: &Gpu,
    canvas: &CanvasTarget,
    pipeline: &mut Pipeline<S>,
    settings: GenerateSettings,
    controls: &Controls,
    update: &dyn Fn(FromEngine),
) -> Result<FromEngine, String> {
    let started = now_ms();
    let model = pipeline.defaults().name.clone();
    let request = GenerateRequest {
        prompt: settings.prompt.clone(),
        width: settings.width,
        height: settings.height,
        steps: settings.steps,
        seed: u64::from(settings.seed),
        guidance: None,
        cfg_scale: None,
        init_image: None,
    };
    update(FromEngine::Progress {
        message: "Reading the prompt…".into(),
    });
    let mut generation = pipeline
        .start(gpu, &request)
        .await
        .map_err(|e| e.to_string())?;
    let warnings: Vec<String> = generation
        .truncations()
        .iter()
        .map(ToString::to_string)
        .collect();
    canvas.resize(gpu, settings.width as u32, settings.height as u32)?;

    let mut steps_done = 0;
    loop {
        if controls.cancel.get() {
            return Ok(FromEngine::Cancelled { steps: steps_done });
        }
        let step_started = now_ms();
        let drawn = draw_next_step(gpu, canvas, &mut generation, controls).await;
        // A lost device explains any failure better than the failure itself.
        if let Some(reason) = gpu.lost() {
            return Err(format!(
                "The GPU stopped during the generation ({reason}). Press Generate to start it again."
            ));
        }
        let Some(step) = drawn? else {
            break;
        };
        steps_done += 1;
        update(FromEngine::Step {
            index: step.index,
            count: step.count,
            t: step.t,
            ms: now_ms() - step_started,
        });
    }

    let frame = generation
        .frame(Show::Current)
        .await
        .map_err(|e| e.to_string())?;
    generated(&frame, settings, model, "Sculpt", started, warnings)
}

/// The reply for a finished generation (either engine): the final frame as
/// a PNG with the prompt, seed, steps and model in its text chunks.
pub fn generated(
    frame: &Frame,
    settings: GenerateSettings,
    model: String,
    software: &str,
    started_ms: f64,
    warnings: Vec<String>,
) -> Result<FromEngine, String> {
    let png = frame
        .to_png(&[
            ("prompt", settings.prompt.clone()),
            ("seed", settings.seed.to_string()),
            ("steps", settings.steps.to_string()),
            ("model", model),
            ("Software", software.into()),
        ])
        .map_err(|e| e.to_string())?;
    Ok(FromEngine::Generated {
        png,
        settings,
        total_ms: now_ms() - started_ms,
        warnings,
    })
}

/// Runs the next step and draws it (the latent the page chose), waiting for
/// the GPU to finish; `None` when every step has run.
async fn draw_next_step(
    gpu: &Gpu,
    canvas: &CanvasTarget,
    generation: &mut Generation<'_>,
    controls: &Controls,
) -> Result<Option<StepInfo>, String> {
    let Some(step) = generation.step().map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let show = match controls.show.get() {
        ShowLatent::Current => Show::Current,
        ShowLatent::PredictedClean => Show::PredictedClean,
    };
    let image = generation.image(show).map_err(|e| e.to_string())?;
    canvas.show(gpu, &image)?;
    work_done(gpu).await;
    Ok(Some(step))
}

/// Resolves once the GPU has finished all work submitted so far. Awaiting
/// it returns control to the worker's event loop, so messages that arrived
/// meanwhile (cancel, show) are handled before the next step.
async fn work_done(gpu: &Gpu) {
    let (sender, receiver) = futures_channel::oneshot::channel();
    gpu.queue.on_submitted_work_done(move || {
        let _ = sender.send(());
    });
    let _ = receiver.await;
}

pub fn now_ms() -> f64 {
    use wasm_bindgen::JsCast;
    // A worker has `performance` on its global scope, not on a window.
    js_sys::Reflect::get(&js_sys::global(), &"performance".into())
        .ok()
        .map(|performance| performance.unchecked_into::<web_sys::Performance>().now())
        .unwrap_or(0.0)
}
