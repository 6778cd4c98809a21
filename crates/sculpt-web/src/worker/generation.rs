//! One generation in the worker, on either backend: every step is drawn on
//! the canvas (the noisy image or the predicted clean one, as the page
//! chooses), and between steps the worker returns to its event loop, which
//! lets the page's cancel and show messages in.

use std::borrow::Cow;

use sculpt_flux::{
    cpu::CpuBackend,
    generation::{Backend, Decode, Frame, Generation, Pipeline, Preview, Show},
    gpu::GpuBackend,
};
use sculpt_gpu::{Gpu, Tensor};
use wasm_bindgen::JsCast;

use super::{Controls, canvas::CanvasTarget, canvas_2d::Canvas2d};
use crate::protocol::{FromEngine, GenerateSettings, ShowLatent};

/// Where a backend's steps are drawn: what differs between the GPU and the
/// CPU engine once a generation runs.
// The futures stay in the worker's one thread.
#[allow(async_fn_in_trait)]
pub trait Screen<B: Backend> {
    /// Names the engine in the PNG's Software chunk.
    const SOFTWARE: &'static str;

    /// Sizes the screen for `width` × `height` frames.
    fn prepare(&self, width: usize, height: usize) -> Result<(), String>;

    /// Draws `latent` (one of `generation`'s) by the decoder `decode` names
    /// and waits until the work is done.
    async fn draw(
        &self,
        generation: &Generation<B>,
        latent: &B::Latent,
        decode: Decode,
    ) -> Result<(), String>;

    /// Gives the worker's event loop a turn (and the page time to show what
    /// was drawn) where computing does not already.
    async fn settle(&self);

    /// Why the device stopped, once it has.
    fn lost(&self) -> Option<String>;
}

/// The GPU engine's canvas: frames drawn into its texture, never read back.
pub struct GpuScreen<'a> {
    pub gpu: &'a Gpu,
    pub canvas: &'a CanvasTarget,
}

impl Screen<GpuBackend> for GpuScreen<'_> {
    const SOFTWARE: &'static str = "Sculpt";

    fn prepare(&self, width: usize, height: usize) -> Result<(), String> {
        self.canvas.resize(self.gpu, width as u32, height as u32)
    }

    async fn draw(
        &self,
        generation: &Generation<GpuBackend>,
        latent: &Tensor,
        decode: Decode,
    ) -> Result<(), String> {
        let image = generation
            .render(latent, decode)
            .map_err(|e| e.to_string())?;
        self.canvas.show(self.gpu, &image)?;
        work_done(self.gpu).await;
        Ok(())
    }

    /// Waiting for the GPU in `draw` already returned to the event loop.
    async fn settle(&self) {}

    fn lost(&self) -> Option<String> {
        self.gpu.lost()
    }
}

impl Screen<CpuBackend> for Canvas2d {
    const SOFTWARE: &'static str = "Sculpt (CPU)";

    /// `draw` sizes the canvas to each frame.
    fn prepare(&self, _width: usize, _height: usize) -> Result<(), String> {
        Ok(())
    }

    async fn draw(
        &self,
        generation: &Generation<CpuBackend>,
        latent: &<CpuBackend as Backend>::Latent,
        decode: Decode,
    ) -> Result<(), String> {
        let frame = generation
            .frame_by(latent, decode)
            .await
            .map_err(|e| e.to_string())?;
        Canvas2d::draw(self, &frame)
    }

    /// The CPU computes without pause: the page hears of a step, and sees
    /// it, only after the worker's next animation frames.
    async fn settle(&self) {
        yield_now().await;
    }

    fn lost(&self) -> Option<String> {
        None
    }
}

/// Runs `settings` with `pipeline`, drawing every step on `screen`.
pub async fn run<P: Pipeline, S: Screen<P::Backend>>(
    pipeline: &mut P,
    screen: &S,
    settings: GenerateSettings,
    controls: &Controls,
    update: &dyn Fn(FromEngine),
) -> Result<FromEngine, String> {
    let started = now_ms();
    let model = pipeline.defaults().name.clone();
    update(FromEngine::Progress {
        message: "Reading the prompt…".into(),
    });
    // Let the page show that before the encoders keep the worker busy.
    screen.settle().await;
    let mut generation = pipeline
        .start(&settings.request()?)
        .await
        .map_err(|e| e.to_string())?;
    let warnings: Vec<String> = generation
        .truncations()
        .iter()
        .map(ToString::to_string)
        .collect();
    screen.prepare(settings.width, settings.height)?;

    let mut steps_done = 0;
    loop {
        // Cancel and show arrive while the worker waits (for the GPU, or
        // for the frame to show).
        if controls.cancel.get() {
            return Ok(FromEngine::Cancelled { steps: steps_done });
        }
        let step_started = now_ms();
        let drawn = draw_next_step(screen, &mut generation, settings.preview, controls).await;
        // A lost device explains any failure better than the failure itself.
        if let Some(reason) = screen.lost() {
            return Err(format!(
                "The GPU stopped during the generation ({reason}). Press Generate to start it again."
            ));
        }
        let Some(step) = drawn? else {
            break;
        };
        let ms = now_ms() - step_started;
        steps_done += 1;
        screen.settle().await;
        update(FromEngine::Step {
            index: step.index,
            count: step.count,
            t: step.t,
            ms,
            frames: Vec::new(),
        });
    }

    let frame = generation
        .frame(Show::Current)
        .await
        .map_err(|e| e.to_string())?;
    generated(&frame, settings, model, S::SOFTWARE, started, warnings)
}

/// The reply for a finished generation: the final frame as a PNG with the
/// prompt, seed, steps and model in its text chunks.
fn generated(
    frame: &Frame,
    mut settings: GenerateSettings,
    model: String,
    software: &str,
    started_ms: f64,
    warnings: Vec<String>,
) -> Result<FromEngine, String> {
    let mut text = vec![
        ("prompt", settings.prompt.clone()),
        ("seed", settings.seed.to_string()),
        ("steps", settings.steps.to_string()),
        ("model", model),
        ("Software", software.into()),
    ];
    if let Some(t) = settings.t {
        text.push(("start noise level", format!("{t}")));
    }
    let png = frame.to_png(&text).map_err(|e| e.to_string())?;
    // The page has the start image; the reply need not carry it back.
    settings.image = None;
    Ok(FromEngine::Generated {
        png,
        settings,
        total_ms: now_ms() - started_ms,
        warnings,
    })
}

/// Runs the next step and draws it (the latent the page chose); `None` when
/// every step has run.
async fn draw_next_step<B: Backend>(
    screen: &impl Screen<B>,
    generation: &mut Generation<B>,
    preview: Preview,
    controls: &Controls,
) -> Result<Option<sculpt_flux::generation::StepInfo>, String> {
    let Some(step) = generation.step().map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let latent = chosen(generation, controls.show.get(), |show| {
        generation.latent(show)
    })?;
    let decode = preview.decode_for_step(generation.finished());
    screen.draw(generation, &latent, decode).await?;
    Ok(Some(step))
}

/// The latent a page's choice names, of the run's current step or a kept
/// one (`stored` finds the latents a step keeps): the stored one itself,
/// or the implied noise worked out from two of them.
pub fn chosen<'a, B: Backend>(
    generation: &Generation<B>,
    show: ShowLatent,
    stored: impl Fn(Show) -> &'a B::Latent,
) -> Result<Cow<'a, B::Latent>, String> {
    let show = match show {
        ShowLatent::Current => Show::Current,
        ShowLatent::PredictedClean => Show::PredictedClean,
        ShowLatent::Velocity => Show::Velocity,
        ShowLatent::PredictedNoise => {
            return generation
                .implied_noise(stored(Show::PredictedClean), stored(Show::Velocity))
                .map(Cow::Owned)
                .map_err(|e| e.to_string());
        }
    };
    Ok(Cow::Borrowed(stored(show)))
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

/// Resolves after the worker's next two animation frames (zero timeouts
/// where there are none): the canvas commits what was drawn at the first and
/// the page has displayed it by the second (a frame committed sooner can
/// replace one the compositor has not shown yet, and a loaded machine would
/// skip steps); messages that arrived meanwhile (cancel, show) have been
/// handled too.
async fn yield_now() {
    for _ in 0..2 {
        next_animation_frame().await;
    }
}

async fn next_animation_frame() {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let scope = js_sys::global();
        let animation_frame = js_sys::Reflect::get(&scope, &"requestAnimationFrame".into())
            .ok()
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
        let scheduled = match animation_frame {
            Some(request) => request.call1(&scope, &resolve).is_ok(),
            None => scope
                .unchecked_ref::<web_sys::WorkerGlobalScope>()
                .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 0)
                .is_ok(),
        };
        // Should neither be possible, resolving at once beats never resolving.
        if !scheduled {
            let _ = resolve.call0(&wasm_bindgen::JsValue::UNDEFINED);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

pub fn now_ms() -> f64 {
    // A worker has `performance` on its global scope, not on a window.
    js_sys::Reflect::get(&js_sys::global(), &"performance".into())
        .ok()
        .map(|performance| performance.unchecked_into::<web_sys::Performance>().now())
        .unwrap_or(0.0)
}
