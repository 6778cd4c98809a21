//! The engine's messages: the one boundary between a page (the generator;
//! its visualizer; the blog widget, in JavaScript) and the engine running in its
//! Web Worker.
//!
//! Every message is a plain JavaScript object with a `type` field, so a page
//! written in JavaScript speaks the same protocol as this crate's page (the
//! Rust types here serialize through serde-wasm-bindgen). Three messages
//! carry browser objects and are described, encoded and decoded by
//! [`PageMessage`]: `attach` (the canvas), `check_files` and `import` (the
//! user's files).

#[cfg(target_arch = "wasm32")]
mod page_message;
mod run;

#[cfg(target_arch = "wasm32")]
pub use page_message::PageMessage;
pub use run::{RUN_HISTORY_LIMIT, RunFrame, RunImage, RunLatent, RunSettings};
/// How steps are drawn, on the wire as `"fast"` or `"full"`.
pub use sculpt_flux::generation::Preview;

use sculpt_flux::pipeline::{GenerateRequest, ImageStart, InitImage};
use serde::{Deserialize, Serialize};

/// What a page asks of the engine. Requests are handled one at a time, in
/// the order sent; each gets exactly one reply.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToEngine {
    /// Draw the engine self-test pattern (a compute kernel's input drawn by
    /// the present shader) with this phase, filling the canvas.
    SelfTest { phase: u32 },
    /// Generate an image, drawing every step on the canvas.
    Generate(GenerateSettings),
    /// Stop the generation in progress after its current step. Handled as
    /// soon as it arrives, not after the requests queued before it; it gets
    /// no reply of its own (the generation answers `cancelled`).
    Cancel,
    /// Which latent the canvas shows from the next step on. Handled as soon
    /// as it arrives; no reply.
    Show { show: ShowLatent },
    /// Diagnosis: destroy the GPU device now, as a driver reset or a GPU
    /// process crash would, to see the engine recover. Handled as soon as it
    /// arrives; a generation in progress fails, and the next request starts
    /// a new device.
    ResetGpu,
    /// The imported models in the store: answered with [`FromEngine::Models`].
    ListModels,
    /// Reads every stored chunk of model `name` back and checks its hash:
    /// answered with [`FromEngine::Models`] (the model marked verified or
    /// corrupt), or `failed` naming the damaged chunk.
    VerifyModel { name: String },
    /// Removes model `name` and all its chunks: answered with
    /// [`FromEngine::Models`].
    DeleteModel { name: String },
    /// Starts a step-level run (see [`RunSettings`]): answered with
    /// [`FromEngine::RunStarted`].
    StartRun(RunSettings),
    /// Runs the run's next step and draws it: answered with
    /// [`FromEngine::Step`].
    StepRun,
    /// Draws step `step` of the run's history (`None`: its latest state):
    /// answered with [`FromEngine::RunDrawn`].
    DrawRun {
        step: Option<usize>,
        show: ShowLatent,
    },
    /// Draws the run's clean image noised to `t`, without the model:
    /// answered with [`FromEngine::RunDrawn`].
    NoiseRun { t: f64 },
    /// Starts the run again from its clean image noised to `t`: answered
    /// with [`FromEngine::RunStarted`].
    RestartRun { t: f64 },
    /// Ends the run and frees what it holds: answered with
    /// [`FromEngine::RunEnded`].
    EndRun,
}

/// One image to generate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GenerateSettings {
    /// Which model: [`BUILT_IN_MODEL`], or the name of an imported one.
    pub model: String,
    pub prompt: String,
    pub width: usize,
    pub height: usize,
    pub steps: usize,
    /// Seeds are whole numbers below 2^32 (a JavaScript number holds them exactly).
    pub seed: u32,
    pub show: ShowLatent,
    /// Start from this image (of the requested size) instead of pure
    /// noise: image-to-image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<RunImage>,
    /// With `image`: the noise level it is noised to before the first step
    /// (image-to-image's strength: 1 is pure noise, the image ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub t: Option<f64>,
    /// How the steps before the last are drawn: `"fast"` (by the model's
    /// preview decoder, as the generator page and the widget ask) or
    /// `"full"` (each by the autoencoder; the default). The last step, and
    /// so the image, is decoded in full either way, as is every frame asked
    /// for on its own (`draw_run`, `noise_run`, a run's start).
    #[serde(default)]
    pub preview: Preview,
}

impl GenerateSettings {
    /// What a surface's settings ask for, with the model's own guidance: from
    /// pure noise, or from the image noised to `t`.
    pub fn request(&self) -> Result<GenerateRequest, String> {
        let init_image = match (&self.image, self.t) {
            (None, None) => None,
            (Some(image), Some(t)) => Some(InitImage {
                width: image.width,
                height: image.height,
                rgba: image.rgba.clone(),
                start: ImageStart::Time(t),
            }),
            (Some(_), None) => {
                return Err(
                    "a start image needs the noise level t to noise it to (1 is pure noise)".into(),
                );
            }
            (None, Some(_)) => {
                return Err(
                    "t is the noise level a start image is noised to, but no image was given"
                        .into(),
                );
            }
        };
        Ok(GenerateRequest {
            prompt: self.prompt.clone(),
            width: self.width,
            height: self.height,
            steps: self.steps,
            seed: u64::from(self.seed),
            guidance: None,
            cfg_scale: None,
            init_image,
        })
    }
}

/// The built-in model's name, as the page picks it.
pub const BUILT_IN_MODEL: &str = "sculpt-tiny";

/// What each step's frame shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShowLatent {
    /// The noisy image x_t after the step.
    Current,
    /// The clean image the model predicts at that step (x0).
    PredictedClean,
    /// The model's velocity at that step (noise minus image, decoded as if
    /// it were a latent).
    Velocity,
    /// The noise the model's prediction implies at that step, ε̂ = x̂₀ + v
    /// (decoded as if it were a latent).
    PredictedNoise,
}

/// Which engine a page asks for when it starts one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EngineChoice {
    /// The faster here: WebGPU on a GPU; the CPU engine where WebGPU is
    /// missing or renders in software (SwiftShader, llvmpipe), which
    /// computes on the same cores as the CPU engine through more layers.
    #[default]
    Auto,
    /// WebGPU wherever the browser offers it, software or not (imported
    /// FLUX models need it).
    Webgpu,
    /// The CPU engine (the built-in model only).
    Cpu,
}

impl EngineChoice {
    pub fn name(self) -> &'static str {
        match self {
            EngineChoice::Auto => "auto",
            EngineChoice::Webgpu => "webgpu",
            EngineChoice::Cpu => "cpu",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        [EngineChoice::Auto, EngineChoice::Webgpu, EngineChoice::Cpu]
            .into_iter()
            .find(|choice| choice.name() == name)
    }
}

/// The label of the CPU engine's reason among `ready`'s device rows.
pub const WHY_NOT_WEBGPU: &str = "Why not WebGPU";

/// The CPU engine's reason (the [`WHY_NOT_WEBGPU`] row of `ready`'s
/// device) when the page chose it.
pub const CPU_BY_CHOICE: &str = "the CPU engine was chosen under \"About this device\"";

/// How the CPU engine's reason begins when `auto` found WebGPU rendering in
/// software.
pub const SOFTWARE_WEBGPU: &str = "WebGPU here renders in software";

/// Where the engine computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// WebGPU: every model, frames drawn by the GPU into the canvas.
    Webgpu,
    /// The CPU fallback, where the browser offers no WebGPU adapter or
    /// device: the built-in model only, much slower, frames drawn with the
    /// canvas's 2d context.
    Cpu,
}

/// What the engine tells the page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FromEngine {
    /// The engine's code has loaded and listens: send `attach` now.
    Loaded,
    /// The engine has the canvas and runs on `backend`: `device` describes
    /// it (label, value rows for an "About this device" panel).
    Ready {
        device: Vec<(String, String)>,
        backend: Backend,
    },
    /// The engine cannot run on this browser or device; `message` says why,
    /// for the page to show.
    Unavailable { message: String },
    /// The self-test frame for `phase` is on the canvas; `ms` is the time
    /// from request to present.
    SelfTestDrawn { phase: u32, ms: f64 },
    /// A request failed; the engine is still usable.
    Failed { message: String },
    /// What a long request is doing now ("Loading the model…").
    Progress { message: String },
    /// Step `index` (from 0) of `count` is on the canvas; it evaluated the
    /// model at time `t` (1 is pure noise) and took `ms`.
    Step {
        index: usize,
        count: usize,
        t: f64,
        ms: f64,
        /// A run's step sent as pixels (see [`RunSettings::frames`]);
        /// otherwise empty and left out.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        frames: Vec<RunFrame>,
    },
    /// The generation finished: the final image as a PNG (prompt, seed,
    /// steps and model in its text chunks), and what it was made with.
    Generated {
        #[serde(with = "serde_bytes")]
        png: Vec<u8>,
        settings: GenerateSettings,
        total_ms: f64,
        /// Things the user should know (a prompt cut short).
        warnings: Vec<String>,
    },
    /// The generation stopped on request after `steps` steps.
    Cancelled { steps: usize },
    /// The imported models, and the bytes their chunks take.
    Models {
        models: Vec<StoredModel>,
        stored_bytes: u64,
    },
    /// What the files given to `check_files` are, and whether they can be
    /// imported as one model on this device.
    FilesChecked(ImportCheck),
    /// An import's progress: `phase` is "resuming", "storing" or "verifying";
    /// `done` of `total` bytes in that phase.
    Importing {
        phase: String,
        file: String,
        done: u64,
        total: u64,
    },
    /// Model `name` is stored and verified; the store's models now.
    Imported {
        name: String,
        models: Vec<StoredModel>,
        stored_bytes: u64,
    },
    /// A run's start latent is on the canvas: every time the run visits,
    /// from its start to 0, and how many of its steps `draw_run` can show.
    RunStarted {
        schedule: Vec<f64>,
        history: usize,
        warnings: Vec<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        frames: Vec<RunFrame>,
    },
    /// A run's latent is on the canvas: step `step`'s (`None`: before the
    /// first step, or the forward process), at time `t`.
    RunDrawn {
        step: Option<usize>,
        show: ShowLatent,
        t: f64,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        frames: Vec<RunFrame>,
    },
    /// The run has ended.
    RunEnded,
}

/// An imported model as the page lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredModel {
    pub name: String,
    /// "verified" (usable), "importing" (unfinished: import the same files
    /// again to resume) or "corrupt".
    pub state: String,
    /// What is wrong with an unusable model, in words.
    pub problem: Option<String>,
    pub bytes: u64,
    pub stored_bytes: u64,
    pub files: Vec<String>,
}

/// The answer to `check_files`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImportCheck {
    /// The name the model would be stored under (the transformer file's).
    pub name: String,
    pub parts: Vec<ImportPart>,
    /// Files that are neither weights nor tokenizers, left out.
    pub ignored: Vec<String>,
    /// What the import stores.
    pub bytes: u64,
    /// What a generation at the model's default size needs on this device.
    pub plan: PlanReport,
    /// Whether the model can run here at all (see `plan.problems`).
    pub importable: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImportPart {
    /// "FLUX transformer", "CLIP tokenizer"…
    pub what: String,
    pub files: Vec<String>,
    pub bytes: u64,
    pub detail: String,
}

/// A memory plan in words.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanReport {
    pub width: usize,
    pub height: usize,
    /// (stage, what it needs) rows, then the peak and the device's limits.
    pub rows: Vec<(String, String)>,
    pub fits: bool,
    /// Why it does not fit at this size; empty when it does.
    pub problems: Vec<String>,
    /// A remark, such as the largest size that does fit.
    pub note: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_tagged_objects_a_page_in_javascript_can_write() {
        let request: ToEngine = serde_json::from_str(r#"{"type":"self_test","phase":3}"#).unwrap();
        assert_eq!(request, ToEngine::SelfTest { phase: 3 });
        let reply = serde_json::to_value(FromEngine::SelfTestDrawn { phase: 3, ms: 1.5 }).unwrap();
        assert_eq!(reply["type"], "self_test_drawn");
        assert_eq!(reply["phase"], 3);
        let ready = serde_json::to_value(FromEngine::Ready {
            device: vec![("Device".into(), "SwiftShader".into())],
            backend: Backend::Cpu,
        })
        .unwrap();
        assert_eq!(ready["device"][0][1], "SwiftShader");
        assert_eq!(ready["backend"], "cpu");
    }

    #[test]
    fn a_page_drives_a_run_with_plain_objects() {
        let start: ToEngine = serde_json::from_str(
            r#"{"type":"start_run","model":"sculpt-tiny","prompt":"a red circle","width":64,
                "height":64,"steps":8,"seed":3,"history":8,"show":"velocity","t":0.6,
                "image":{"width":1,"height":1,"rgba":[1,2,3,255]}}"#,
        )
        .unwrap();
        let ToEngine::StartRun(settings) = start else {
            panic!("not a start_run: {start:?}");
        };
        assert_eq!(settings.generate.show, ShowLatent::Velocity);
        assert_eq!(settings.generate.prompt, "a red circle");
        assert_eq!(settings.generate.t, Some(0.6));
        assert_eq!(settings.generate.image.unwrap().rgba, [1, 2, 3, 255]);
        assert!(settings.frames.is_empty(), "drawn on the canvas by default");
        // A page that draws the pictures itself names the latents it wants.
        let start: ToEngine = serde_json::from_str(
            r#"{"type":"start_run","model":"m","prompt":"p","width":16,"height":16,"steps":1,
                "seed":0,"history":1,"show":"current","frames":["current","velocity"]}"#,
        )
        .unwrap();
        let ToEngine::StartRun(settings) = start else {
            panic!("not a start_run: {start:?}");
        };
        assert_eq!(settings.frames, [ShowLatent::Current, ShowLatent::Velocity]);
        // From pure noise, image and t are left out.
        let start: ToEngine = serde_json::from_str(
            r#"{"type":"start_run","model":"m","prompt":"p","width":16,"height":16,"steps":1,
                "seed":0,"history":0,"show":"current"}"#,
        )
        .unwrap();
        let ToEngine::StartRun(settings) = start else {
            panic!("not a start_run: {start:?}");
        };
        assert_eq!((settings.generate.image, settings.generate.t), (None, None));
        // A generation starts from an image the same way.
        let generate: ToEngine = serde_json::from_str(
            r#"{"type":"generate","model":"m","prompt":"p","width":16,"height":16,"steps":4,
                "seed":1,"show":"current","t":0.75,
                "image":{"width":1,"height":1,"rgba":[5,6,7,255]}}"#,
        )
        .unwrap();
        let ToEngine::Generate(settings) = generate else {
            panic!("not a generate: {generate:?}");
        };
        assert_eq!(settings.t, Some(0.75));
        assert_eq!(
            settings.image.map(|image| image.rgba),
            Some(vec![5, 6, 7, 255])
        );
        for (json, want) in [
            (r#"{"type":"step_run"}"#, ToEngine::StepRun),
            (
                r#"{"type":"draw_run","step":2,"show":"predicted_clean"}"#,
                ToEngine::DrawRun {
                    step: Some(2),
                    show: ShowLatent::PredictedClean,
                },
            ),
            (
                r#"{"type":"draw_run","step":null,"show":"current"}"#,
                ToEngine::DrawRun {
                    step: None,
                    show: ShowLatent::Current,
                },
            ),
            (
                r#"{"type":"noise_run","t":0.25}"#,
                ToEngine::NoiseRun { t: 0.25 },
            ),
            (
                r#"{"type":"restart_run","t":0.5}"#,
                ToEngine::RestartRun { t: 0.5 },
            ),
            (r#"{"type":"end_run"}"#, ToEngine::EndRun),
        ] {
            assert_eq!(
                serde_json::from_str::<ToEngine>(json).unwrap(),
                want,
                "{json}"
            );
        }
        let started = serde_json::to_value(FromEngine::RunStarted {
            schedule: vec![0.6, 0.5, 0.0],
            history: 8,
            warnings: Vec::new(),
            frames: Vec::new(),
        })
        .unwrap();
        assert_eq!(started["type"], "run_started");
        assert_eq!(started["schedule"][1], 0.5);
        assert!(started.get("frames").is_none(), "no frames, no field");
        let drawn = serde_json::to_value(FromEngine::RunDrawn {
            step: None,
            show: ShowLatent::Current,
            t: 0.25,
            frames: vec![RunFrame {
                show: ShowLatent::Current,
                width: 1,
                height: 1,
                rgba: vec![9, 8, 7, 255],
                latent: Some(RunLatent::new(2, 1, 1, &[1.5, -0.25])),
            }],
        })
        .unwrap();
        assert_eq!(drawn["type"], "run_drawn");
        assert!(drawn["step"].is_null());
        assert_eq!(drawn["frames"][0]["show"], "current");
        assert_eq!(drawn["frames"][0]["rgba"][2], 7);
        // Little-endian f32: 1.5 is 0x3FC00000.
        assert_eq!(drawn["frames"][0]["latent"]["values"][3], 0x3F);
        assert_eq!(drawn["frames"][0]["latent"]["values"][2], 0xC0);
        let back: FromEngine = serde_json::from_value(drawn).unwrap();
        let FromEngine::RunDrawn { frames, .. } = back else {
            panic!("not run_drawn");
        };
        let latent = frames[0].latent.as_ref().unwrap();
        assert_eq!(latent.floats(), Some(vec![1.5, -0.25]));
        let short = RunLatent {
            channels: 3,
            ..latent.clone()
        };
        assert_eq!(short.floats(), None, "2 values are not 3 channels");
        let step: FromEngine = serde_json::from_value(serde_json::json!({
            "type": "step", "index": 0, "count": 2, "t": 1.0, "ms": 3.0
        }))
        .unwrap();
        assert!(matches!(step, FromEngine::Step { frames, .. } if frames.is_empty()));
    }
}
