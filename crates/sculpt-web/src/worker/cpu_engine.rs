//! The engine where the browser offers no WebGPU: the built-in model on the
//! CPU (`sculpt_flux::cpu`, wasm with SIMD), every frame drawn with the
//! canvas's 2d context. The protocol is the GPU engine's; only the built-in
//! model runs, and between steps the engine yields to the worker's event
//! loop so that cancel and show arrive while it computes.

use sculpt_flux::{
    cpu::{CpuGeneration, CpuPipeline},
    pipeline::{Frame, GenerateRequest, Show},
};
use sculpt_gpu::kernels::frame::test_pattern;
use wasm_bindgen::{Clamped, JsCast};
use web_sys::{ImageData, OffscreenCanvas, OffscreenCanvasRenderingContext2d};

use super::{
    Controls, built_in,
    engine::MAX_PHASE,
    generation::{generated, now_ms},
    library::Library,
};
use crate::protocol::{BUILT_IN_MODEL, FromEngine, GenerateSettings, ShowLatent, ToEngine};

pub struct CpuEngine {
    canvas: OffscreenCanvas,
    context: OffscreenCanvasRenderingContext2d,
    /// Why WebGPU could not be used, for the device panel.
    reason: String,
    /// The built-in model, loaded on the first generation.
    model: Option<CpuPipeline>,
    /// Imported models cannot run here, but can still be listed and deleted.
    library: Library,
}

impl CpuEngine {
    /// Takes the canvas's 2d context; `reason` says why the GPU engine
    /// could not start.
    pub fn start(canvas: OffscreenCanvas, reason: String) -> Result<Self, String> {
        let context = canvas
            .get_context("2d")
            .ok()
            .flatten()
            .and_then(|context| context.dyn_into::<OffscreenCanvasRenderingContext2d>().ok())
            .ok_or_else(|| {
                format!(
                    "No WebGPU here ({reason}), and the canvas cannot be drawn on with 2d either"
                )
            })?;
        Ok(Self {
            canvas,
            context,
            reason,
            model: None,
            library: Library::default(),
        })
    }

    pub fn device_rows(&self) -> Vec<(String, String)> {
        vec![
            ("Backend".into(), "CPU (candle, WebAssembly SIMD)".into()),
            ("Threads".into(), "1 (the engine's worker)".into()),
            ("Models".into(), format!("{BUILT_IN_MODEL} only")),
            ("Why not WebGPU".into(), self.reason.clone()),
        ]
    }

    pub async fn handle(
        &mut self,
        request: ToEngine,
        controls: &Controls,
        update: &dyn Fn(FromEngine),
    ) -> FromEngine {
        let result = match request {
            ToEngine::SelfTest { phase } => self
                .self_test(phase)
                .map(|ms| FromEngine::SelfTestDrawn { phase, ms }),
            ToEngine::Generate(settings) => {
                controls.cancel.set(false);
                controls.show.set(settings.show);
                self.generate(settings, controls, update).await
            }
            // Stored models can still be listed, checked and deleted.
            ToEngine::ListModels => self.library.list().await,
            ToEngine::VerifyModel { name } => self.library.verify(&name).await,
            ToEngine::DeleteModel { name } => self.library.delete(&name).await,
            ToEngine::Cancel | ToEngine::Show { .. } | ToEngine::ResetGpu => {
                Err("cancel, show and reset are never queued".into())
            }
        };
        result.unwrap_or_else(|message| FromEngine::Failed { message })
    }

    fn self_test(&self, phase: u32) -> Result<f64, String> {
        if phase > MAX_PHASE {
            return Err(format!(
                "Pattern phase must be a whole number from 0 to {MAX_PHASE}, not {phase}."
            ));
        }
        let started = now_ms();
        let (width, height) = (256, 160);
        let planes = test_pattern(width, height, phase);
        let pixels = (width * height) as usize;
        let byte = |v: f32| ((v.clamp(-1.0, 1.0) + 1.0) * 127.5 + 0.5).floor() as u8;
        let rgba = (0..pixels)
            .flat_map(|i| {
                [
                    byte(planes[i]),
                    byte(planes[pixels + i]),
                    byte(planes[2 * pixels + i]),
                    255,
                ]
            })
            .collect();
        draw(
            &self.canvas,
            &self.context,
            &Frame {
                width: width as usize,
                height: height as usize,
                rgba,
            },
        )?;
        Ok(now_ms() - started)
    }

    async fn generate(
        &mut self,
        settings: GenerateSettings,
        controls: &Controls,
        update: &dyn Fn(FromEngine),
    ) -> Result<FromEngine, String> {
        if settings.model != BUILT_IN_MODEL {
            return Err(format!(
                "\"{}\" needs WebGPU, which this browser does not offer; without it only the \
                 built-in model \"{BUILT_IN_MODEL}\" runs (on the CPU)",
                settings.model
            ));
        }
        let started = now_ms();
        if self.model.is_none() {
            update(FromEngine::Progress {
                message: "Loading the built-in model (CPU)…".into(),
            });
            self.model = Some(built_in::open_cpu().await?);
        }
        let (canvas, context) = (&self.canvas, &self.context);
        let pipeline = self.model.as_mut().expect("loaded above");
        let model = pipeline.defaults().name.clone();
        update(FromEngine::Progress {
            message: "Reading the prompt…".into(),
        });
        // Let the page show that before the encoders block the worker.
        yield_now().await;
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
        let mut generation = pipeline.start(&request).map_err(|e| e.to_string())?;
        let warnings = generation
            .truncations()
            .iter()
            .map(ToString::to_string)
            .collect();
        let mut steps_done = 0;
        loop {
            // Cancel and show arrived while the worker waited (before the
            // loop, or for the last step's frame to show).
            if controls.cancel.get() {
                return Ok(FromEngine::Cancelled { steps: steps_done });
            }
            let step_started = now_ms();
            let Some(step) = generation.step().map_err(|e| e.to_string())? else {
                break;
            };
            draw_step(&generation, controls, |frame| draw(canvas, context, frame))?;
            let ms = now_ms() - step_started;
            steps_done += 1;
            // The page hears of the step once its frame is on the canvas.
            yield_now().await;
            update(FromEngine::Step {
                index: step.index,
                count: step.count,
                t: step.t,
                ms,
            });
        }
        let frame = generation.frame(Show::Current).map_err(|e| e.to_string())?;
        generated(&frame, settings, model, "Sculpt (CPU)", started, warnings)
    }
}

/// Puts `frame` on the canvas, sized to it.
fn draw(
    canvas: &OffscreenCanvas,
    context: &OffscreenCanvasRenderingContext2d,
    frame: &Frame,
) -> Result<(), String> {
    let (width, height) = (frame.width as u32, frame.height as u32);
    if (canvas.width(), canvas.height()) != (width, height) {
        canvas.set_width(width);
        canvas.set_height(height);
    }
    let image = ImageData::new_with_u8_clamped_array_and_sh(Clamped(&frame.rgba), width, height)
        .map_err(|_| format!("cannot make a {width}×{height} image to draw"))?;
    context
        .put_image_data(&image, 0.0, 0.0)
        .map_err(|_| "cannot draw on the canvas".to_string())
}

/// Decodes the latent the page chose and hands the frame to `draw`.
fn draw_step(
    generation: &CpuGeneration<'_>,
    controls: &Controls,
    draw: impl Fn(&Frame) -> Result<(), String>,
) -> Result<(), String> {
    let show = match controls.show.get() {
        ShowLatent::Current => Show::Current,
        ShowLatent::PredictedClean => Show::PredictedClean,
    };
    draw(&generation.frame(show).map_err(|e| e.to_string())?)
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
