//! The engine: a GPU, the canvas it draws on, and the requests it serves.

use sculpt_gpu::{Gpu, Tensor, kernels::frame::test_pattern};
use web_sys::OffscreenCanvas;

use sculpt_flux::pipeline::Pipeline;

use super::{
    Controls, built_in, canvas::CanvasTarget, generation, library::Library, source::WebSource,
};
use crate::{
    import_source::ImportFiles,
    protocol::{BUILT_IN_MODEL, FromEngine, ToEngine},
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

pub struct Engine {
    gpu: Gpu,
    canvas: CanvasTarget,
    /// The model last generated with, kept loaded for the next generation.
    model: Option<(String, Pipeline<WebSource>)>,
    library: Library,
}

impl Engine {
    pub async fn start(canvas: OffscreenCanvas) -> Result<Self, String> {
        let gpu = Gpu::new().await.map_err(|e| e.to_string())?;
        let canvas = CanvasTarget::new(&gpu, canvas)?;
        Ok(Self {
            gpu,
            canvas,
            model: None,
            library: Library::default(),
        })
    }

    pub fn device(&self) -> wgpu::Device {
        self.gpu.device.clone()
    }

    /// After the device was lost: a new device on the same canvas. Models
    /// loaded on the old device are gone with it.
    async fn restart(&mut self, controls: &Controls) -> Result<(), String> {
        self.model = None;
        let gpu = Gpu::new().await.map_err(|e| e.to_string())?;
        let canvas = CanvasTarget::new(&gpu, self.canvas.offscreen())?;
        controls.device.replace(Some(gpu.device.clone()));
        self.gpu = gpu;
        self.canvas = canvas;
        Ok(())
    }

    pub fn device_rows(&self) -> Vec<(String, String)> {
        self.gpu
            .report
            .rows()
            .into_iter()
            .map(|(label, value)| (label.to_string(), value))
            .collect()
    }

    /// Serves one request; `update` posts progress before the reply.
    pub async fn handle(
        &mut self,
        request: Request,
        controls: &Controls,
        update: &dyn Fn(FromEngine),
    ) -> FromEngine {
        if let Some(reason) = self.gpu.lost() {
            update(FromEngine::Progress {
                message: format!("The GPU was reset ({reason}); starting it again…"),
            });
            if let Err(message) = self.restart(controls).await {
                return FromEngine::Failed {
                    message: format!("The GPU was reset and cannot be started again: {message}"),
                };
            }
        }
        let request = match request {
            Request::Message(message) => message,
            Request::CheckFiles(files) => {
                update(FromEngine::Progress {
                    message: "Reading the files' headers…".into(),
                });
                return self
                    .library
                    .check(&self.gpu, &files)
                    .await
                    .unwrap_or_else(|message| FromEngine::Failed { message });
            }
            Request::Import { name, files } => {
                return self
                    .library
                    .import(&self.gpu, &name, &files, update)
                    .await
                    .unwrap_or_else(|message| FromEngine::Failed { message });
            }
        };
        let result = match request {
            ToEngine::SelfTest { phase } => self
                .self_test(phase)
                .map(|ms| FromEngine::SelfTestDrawn { phase, ms }),
            ToEngine::Generate(settings) => {
                // A cancel sent before this generation began is not for it.
                controls.cancel.set(false);
                controls.show.set(settings.show);
                let model = loaded(
                    &self.gpu,
                    &mut self.library,
                    &mut self.model,
                    &settings.model,
                    update,
                )
                .await;
                match model {
                    Ok(pipeline) => {
                        generation::run(
                            &self.gpu,
                            &self.canvas,
                            pipeline,
                            settings,
                            controls,
                            update,
                        )
                        .await
                    }
                    Err(message) => Err(message),
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
                    self.model = None;
                }
                self.library.delete(&name).await
            }
            // Acted on when they arrive (see `worker::start`); never queued.
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
        let started = generation::now_ms();
        let (width, height) = SELF_TEST_SIZE;
        self.canvas.resize(&self.gpu, width, height)?;
        let planes = Tensor::from_slice(
            &self.gpu,
            &test_pattern(width, height, phase),
            &[3, height as usize, width as usize],
        )
        .map_err(|e| e.to_string())?;
        self.canvas.show(&self.gpu, &planes)?;
        Ok(generation::now_ms() - started)
    }
}

/// The pipeline of `model`, loading it if another (or none) is loaded: the
/// built-in model from the site, an imported one from the store.
async fn loaded<'m>(
    gpu: &Gpu,
    library: &mut Library,
    loaded: &'m mut Option<(String, Pipeline<WebSource>)>,
    model: &str,
    update: &dyn Fn(FromEngine),
) -> Result<&'m mut Pipeline<WebSource>, String> {
    if loaded.as_ref().map(|(name, _)| name.as_str()) != Some(model) {
        // The old model's GPU buffers go before the new one's come.
        *loaded = None;
        let pipeline = if model == BUILT_IN_MODEL {
            update(FromEngine::Progress {
                message: "Loading the built-in model…".into(),
            });
            built_in::open(gpu).await?
        } else {
            update(FromEngine::Progress {
                message: format!("Opening {model} from this browser's storage…"),
            });
            library.open(gpu, model).await?
        };
        *loaded = Some((model.to_string(), pipeline));
    }
    Ok(&mut loaded.as_mut().expect("loaded above").1)
}
