//! The engine: a device (WebGPU, or the CPU where the browser has none), the
//! canvas it draws on, the model it keeps loaded, and the requests it
//! serves. Both devices answer the same messages; they differ only in what
//! the device can run (imported models need WebGPU) and how a frame reaches
//! the canvas.

use std::rc::Rc;

use sculpt_flux::{cpu::CpuPipeline, generation::Pipeline, gpu::GpuPipeline};
use sculpt_gpu::{
    Gpu, Tensor,
    kernels::frame::{test_pattern, to_rgba8_cpu},
};
use wasm_bindgen::JsCast;
use web_sys::{OffscreenCanvas, WorkerGlobalScope};

use super::{
    Controls,
    canvas::CanvasTarget,
    canvas_2d::Canvas2d,
    generation::{self, GpuScreen, now_ms},
    library::Library,
    published,
    run::{self, ActiveRun, Run},
};
use crate::{
    protocol::{
        BUILT_IN_MODEL, Backend, CPU_BY_CHOICE, EngineChoice, FromEngine, SOFTWARE_WEBGPU,
        ToEngine, WHY_NOT_WEBGPU,
    },
    sources::{ImportFiles, WebSource},
};

/// What the engine serves: a protocol message, or one of the two that carry
/// the user's files or addresses (see [`crate::protocol`]).
pub enum Request {
    Message(ToEngine),
    CheckFiles(ImportFiles),
    Import { name: String, files: ImportFiles },
}

/// The largest self-test phase the page offers.
pub const MAX_PHASE: u32 = 1000;
/// The self-test frame's size (the canvas takes each image's size).
const SELF_TEST_SIZE: (u32, u32) = (256, 160);

/// Where the engine computes and draws.
enum Device {
    Gpu {
        gpu: Rc<Gpu>,
        canvas: CanvasTarget,
    },
    /// The CPU fallback; `reason` says why WebGPU could not be used.
    Cpu {
        canvas: Canvas2d,
        reason: String,
    },
}

/// A model opened on the engine's device.
enum Model {
    // Boxed: the CPU pipeline holds its models inline.
    Gpu(Box<GpuPipeline<WebSource>>),
    Cpu(Box<CpuPipeline>),
}

pub struct Engine {
    device: Device,
    /// The model last generated with, kept loaded for the next generation.
    model: Option<(String, Model)>,
    /// Imported models (only listed, checked and deleted on the CPU).
    library: Library,
    /// The step-level run a page started, if any.
    run: Option<ActiveRun>,
    /// The address the engine's own files (the built-in model) are
    /// relative to.
    base: String,
}

/// Calls a run operation generic over the backend with the engine's run
/// and the screen of its device.
macro_rules! on_run {
    ($engine:expr, |$generation:ident, $screen:ident, $show:ident, $preview:ident, $frames:ident| $body:expr) => {
        match (&mut $engine.run, &$engine.device) {
            (
                Some(ActiveRun {
                    run: Run::Gpu($generation),
                    show: $show,
                    preview: $preview,
                    frames: $frames,
                }),
                Device::Gpu { gpu, canvas },
            ) => {
                let $screen = &GpuScreen { gpu, canvas };
                $body.await
            }
            (
                Some(ActiveRun {
                    run: Run::Cpu($generation),
                    show: $show,
                    preview: $preview,
                    frames: $frames,
                }),
                Device::Cpu { canvas, .. },
            ) => {
                let $screen = canvas;
                $body.await
            }
            (None, _) => Err("there is no run: start one with start_run".to_string()),
            _ => unreachable!("runs are started on the engine's device"),
        }
    };
}

impl Engine {
    /// Starts the engine `choice` asks for: on WebGPU where the browser
    /// offers an adapter and a device (with `Auto`, only where it is not a
    /// software renderer), else on the CPU (published models only). The
    /// engine's own files are fetched relative to `base`, else to the
    /// worker's address.
    pub async fn start(
        canvas: OffscreenCanvas,
        base: Option<String>,
        choice: EngineChoice,
    ) -> Result<Self, String> {
        let base = match base {
            Some(base) => base,
            None => js_sys::global()
                .unchecked_into::<WorkerGlobalScope>()
                .location()
                .href(),
        };
        let on_cpu = |canvas, reason: String| -> Result<Device, String> {
            Ok(Device::Cpu {
                canvas: Canvas2d::new(canvas, &reason)?,
                reason,
            })
        };
        let device = match choice {
            EngineChoice::Cpu => on_cpu(canvas, CPU_BY_CHOICE.into())?,
            EngineChoice::Webgpu | EngineChoice::Auto => match Gpu::new().await {
                Err(error) => on_cpu(canvas, error.to_string())?,
                Ok(gpu) if choice == EngineChoice::Auto && gpu.report.is_software() => {
                    let reason = software_reason(&gpu.report.adapter_name);
                    // The canvas has no context yet: the CPU engine takes its 2d one.
                    drop(gpu);
                    on_cpu(canvas, reason)?
                }
                Ok(gpu) => match on_gpu(gpu, canvas.clone()) {
                    Ok(device) => device,
                    Err(reason) => on_cpu(canvas, reason)?,
                },
            },
        };
        Ok(Self {
            device,
            model: None,
            library: Library::default(),
            run: None,
            base,
        })
    }

    pub fn backend(&self) -> Backend {
        match self.device {
            Device::Gpu { .. } => Backend::Webgpu,
            Device::Cpu { .. } => Backend::Cpu,
        }
    }

    /// The GPU device, for `ResetGpu` to destroy at once.
    pub fn gpu_device(&self) -> Option<wgpu::Device> {
        match &self.device {
            Device::Gpu { gpu, .. } => Some(gpu.device.clone()),
            Device::Cpu { .. } => None,
        }
    }

    /// Label/value rows for the page's "About this device".
    pub fn device_rows(&self) -> Vec<(String, String)> {
        match &self.device {
            Device::Gpu { gpu, .. } => gpu
                .report
                .rows()
                .into_iter()
                .map(|(label, value)| (label.to_string(), value))
                .collect(),
            Device::Cpu { reason, .. } => vec![
                ("Backend".into(), "CPU (candle, WebAssembly SIMD)".into()),
                ("Threads".into(), "1 (the engine's worker)".into()),
                ("Models".into(), format!("{BUILT_IN_MODEL} only")),
                (WHY_NOT_WEBGPU.into(), reason.clone()),
            ],
        }
    }

    /// Serves one request; `update` posts progress before the reply.
    pub async fn handle(
        &mut self,
        request: Request,
        controls: &Controls,
        update: &dyn Fn(FromEngine),
    ) -> FromEngine {
        self.serve(request, controls, update)
            .await
            .unwrap_or_else(|message| FromEngine::Failed { message })
    }

    async fn serve(
        &mut self,
        request: Request,
        controls: &Controls,
        update: &dyn Fn(FromEngine),
    ) -> Result<FromEngine, String> {
        self.recover(controls, update).await?;
        let request = match request {
            Request::Message(message) => message,
            Request::CheckFiles(files) => {
                let gpu = self.gpu_for_imports()?;
                update(FromEngine::Progress {
                    message: "Reading the files' headers…".into(),
                });
                return self.library.check(&gpu, &files).await;
            }
            Request::Import { name, files } => {
                let gpu = self.gpu_for_imports()?;
                return self.library.import(&gpu, &name, &files, update).await;
            }
        };
        match request {
            ToEngine::SelfTest { phase } => self
                .self_test(phase)
                .map(|ms| FromEngine::SelfTestDrawn { phase, ms }),
            ToEngine::Generate(settings) => {
                // A cancel sent before this generation began is not for it.
                controls.cancel.set(false);
                self.run = None;
                controls.show.set(settings.show);
                self.load(&settings.model, update).await?;
                let (_, model) = self.model.as_mut().expect("loaded above");
                match (model, &self.device) {
                    (Model::Gpu(pipeline), Device::Gpu { gpu, canvas }) => {
                        let screen = GpuScreen { gpu, canvas };
                        generation::run(&mut **pipeline, &screen, settings, controls, update).await
                    }
                    (Model::Cpu(pipeline), Device::Cpu { canvas, .. }) => {
                        generation::run(&mut **pipeline, canvas, settings, controls, update).await
                    }
                    _ => unreachable!("models are opened on the engine's device"),
                }
            }
            ToEngine::ListModels => self.library.list().await,
            ToEngine::VerifyModel { name } => {
                update(FromEngine::Progress {
                    message: format!("Checking every stored chunk of {name}…"),
                });
                self.library.verify(&name).await
            }
            ToEngine::DeleteModel { name } => {
                if self
                    .model
                    .as_ref()
                    .is_some_and(|(loaded, _)| *loaded == name)
                {
                    self.run = None;
                    self.model = None;
                }
                self.library.delete(&name).await
            }
            ToEngine::StartRun(settings) => self.start_run(settings, update).await,
            ToEngine::StepRun => {
                on_run!(self, |generation, screen, show, preview, frames| run::step(
                    generation, screen, *show, *preview, frames
                ))
            }
            ToEngine::DrawRun { step, show } => {
                on_run!(self, |generation, screen, _show, _preview, frames| {
                    run::draw(generation, screen, step, show, frames)
                })
            }
            ToEngine::NoiseRun { t } => {
                on_run!(self, |generation, screen, _show, _preview, frames| {
                    run::noise(generation, screen, t, frames)
                })
            }
            ToEngine::RestartRun { t } => {
                on_run!(self, |generation, screen, _show, _preview, frames| {
                    run::restart(generation, screen, t, frames)
                })
            }
            ToEngine::EndRun => {
                self.run = None;
                Ok(FromEngine::RunEnded)
            }
            // Acted on when they arrive (see `worker::start`); never queued.
            ToEngine::Cancel | ToEngine::Show { .. } | ToEngine::ResetGpu => {
                Err("cancel, show and reset are never queued".into())
            }
        }
    }

    /// Starts a step-level run and draws its start latent.
    async fn start_run(
        &mut self,
        settings: crate::protocol::RunSettings,
        update: &dyn Fn(FromEngine),
    ) -> Result<FromEngine, String> {
        let request = settings.request()?;
        // The old run's latents go before the new one's come.
        self.run = None;
        self.load(&settings.generate.model, update).await?;
        update(FromEngine::Progress {
            message: "Reading the prompt…".into(),
        });
        let (_, model) = self.model.as_mut().expect("loaded above");
        let started = match model {
            Model::Gpu(pipeline) => Run::Gpu(Box::new(
                pipeline
                    .start(&request)
                    .await
                    .map_err(|e| e.to_string())?
                    .with_history(settings.history),
            )),
            Model::Cpu(pipeline) => Run::Cpu(Box::new(
                pipeline
                    .start(&request)
                    .await
                    .map_err(|e| e.to_string())?
                    .with_history(settings.history),
            )),
        };
        self.run = Some(ActiveRun {
            run: started,
            show: settings.generate.show,
            preview: settings.generate.preview,
            frames: run::Readback::of(&settings),
        });
        on_run!(self, |generation, screen, _show, _preview, frames| {
            run::started(generation, screen, frames)
        })
    }

    /// After the GPU was lost: a new device on the same canvas. Models
    /// loaded on the old device are gone with it.
    async fn recover(
        &mut self,
        controls: &Controls,
        update: &dyn Fn(FromEngine),
    ) -> Result<(), String> {
        let Device::Gpu { gpu, canvas } = &self.device else {
            return Ok(());
        };
        let Some(reason) = gpu.lost() else {
            return Ok(());
        };
        update(FromEngine::Progress {
            message: format!("The GPU was reset ({reason}); starting it again…"),
        });
        self.run = None;
        self.model = None;
        let gpu = Gpu::new().await.map_err(|e| e.to_string());
        let device = gpu
            .and_then(|gpu| on_gpu(gpu, canvas.offscreen()))
            .map_err(|message| {
                format!("The GPU was reset and cannot be started again: {message}")
            })?;
        self.device = device;
        controls.device.replace(self.gpu_device());
        Ok(())
    }

    /// Imported FLUX models are checked against, and run on, the GPU.
    fn gpu_for_imports(&self) -> Result<Rc<Gpu>, String> {
        match &self.device {
            Device::Gpu { gpu, .. } => Ok(Rc::clone(gpu)),
            Device::Cpu { reason, .. } => Err(format!(
                "Imported FLUX models run on WebGPU, and the engine runs on the CPU here \
                 ({reason}); only the built-in model runs."
            )),
        }
    }

    /// Makes `model` the loaded one, unless it is already: a published
    /// model (the built-in one, or one at an address) fetched, an imported
    /// one from the store.
    async fn load(&mut self, model: &str, update: &dyn Fn(FromEngine)) -> Result<(), String> {
        if self.model.as_ref().map(|(name, _)| name.as_str()) == Some(model) {
            return Ok(());
        }
        let manifest = published::manifest_address(model, &self.base).transpose()?;
        // The old model's buffers go before the new one's come.
        self.run = None;
        self.model = None;
        // "Loading the built-in model…", "Loading the model at https://… (CPU)…"
        let loading = |on: &str| {
            let what = if model == BUILT_IN_MODEL {
                "the built-in model".to_string()
            } else {
                format!("the model at {model}")
            };
            FromEngine::Progress {
                message: format!("Loading {what}{on}…"),
            }
        };
        let opened = match (&self.device, manifest) {
            (Device::Gpu { gpu, .. }, Some(manifest)) => {
                update(loading(""));
                Model::Gpu(Box::new(published::open(gpu, &manifest, update).await?))
            }
            (Device::Gpu { gpu, .. }, None) => {
                update(FromEngine::Progress {
                    message: format!("Opening {model} from this browser's storage…"),
                });
                Model::Gpu(Box::new(self.library.open(gpu, model).await?))
            }
            (Device::Cpu { .. }, Some(manifest)) => {
                update(loading(" (CPU)"));
                Model::Cpu(Box::new(published::open_cpu(&manifest, update).await?))
            }
            (Device::Cpu { .. }, None) => {
                return Err(format!(
                    "\"{model}\" needs WebGPU, which this browser does not offer; without it \
                     only the built-in model \"{BUILT_IN_MODEL}\" runs (on the CPU)"
                ));
            }
        };
        self.model = Some((model.to_string(), opened));
        Ok(())
    }

    /// Draws the self-test's frame of known pixels.
    fn self_test(&self, phase: u32) -> Result<f64, String> {
        if phase > MAX_PHASE {
            return Err(format!(
                "Pattern phase must be a whole number from 0 to {MAX_PHASE}, not {phase}."
            ));
        }
        let started = now_ms();
        let (width, height) = SELF_TEST_SIZE;
        let planes = test_pattern(width, height, phase);
        let (width, height) = (width as usize, height as usize);
        match &self.device {
            Device::Gpu { gpu, canvas } => {
                canvas.resize(gpu, width as u32, height as u32)?;
                let planes = Tensor::from_slice(gpu, &planes, &[3, height, width])
                    .map_err(|e| e.to_string())?;
                canvas.show(gpu, &planes)?;
            }
            Device::Cpu { canvas, .. } => canvas.draw(&sculpt_flux::generation::Frame {
                width,
                height,
                rgba: to_rgba8_cpu(&planes, width, height),
            })?,
        }
        Ok(now_ms() - started)
    }
}

/// A WebGPU device on `canvas`, or why there is none.
/// The engine on `gpu`, drawing into `canvas` (which takes its WebGPU
/// context from now on).
fn on_gpu(gpu: Gpu, canvas: OffscreenCanvas) -> Result<Device, String> {
    let canvas = CanvasTarget::new(&gpu, canvas)?;
    Ok(Device::Gpu {
        gpu: Rc::new(gpu),
        canvas,
    })
}

/// Why `Auto` runs on the CPU where WebGPU renders in software; the page
/// shows it in one line.
fn software_reason(adapter: &str) -> String {
    format!(
        "{SOFTWARE_WEBGPU} ({adapter}), which is slower here than the CPU engine; \
         choose WebGPU under \"About this device\" to use it anyway"
    )
}
