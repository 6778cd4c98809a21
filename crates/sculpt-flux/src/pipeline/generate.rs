//! Loading a model's files and generating with them, stage by stage: the
//! text encoders are loaded, run on the prompt and dropped; the transformer
//! and the autoencoder are loaded once and kept for later generations.
//!
//! A generation is a [`Generation`] that advances one step per
//! [`Generation::step`] (recording GPU work, reading nothing back), so that
//! a browser can draw between steps without blocking; [`Pipeline::generate`]
//! drives it with a callback for native callers.

use sculpt_gpu::{
    Gpu, Tensor,
    kernels::{
        elementwise::{Binary, Unary, binary, unary},
        frame::to_rgba8,
        layout::{pack_patches, unpack_patches},
        noise::NoiseKernel,
    },
};

use super::{
    DEFAULT_GUIDANCE, DeviceLimits, GenerateRequest, InitImage, Manifest, ManifestConfig,
    MemoryPlan, PipelineError, PlanModels, gpu_weight_bytes, plan_memory,
};
use crate::checkpoint::{Checkpoint, ModelConfig, Naming, Role, check_layout, detect, naming_of};
use crate::clip::ClipTextModel;
use crate::flux::autoencoder::{Decoder, DiffusersVaeNames, Encoder};
use crate::flux::{DiffusersNames, FluxInputs, FluxTransformer, Positions, image_ids, text_ids};
use crate::formats::{ByteSource, TensorIndex};
use crate::sampler::{ScheduleShift, euler_step, image_to_image_start, noised, timesteps};
use crate::t5::T5Encoder;
use crate::text::{ClipTokenizer, T5Tokenizer, Truncation};
use crate::weights::{FileWeights, TakeFuture, TensorUse, WeightSource};

/// A model's weight files (any [`ByteSource`]; one file per model, or the
/// shards of a split checkpoint) and tokenizer.json bytes.
pub struct ModelFiles<S> {
    pub transformer: Vec<S>,
    pub autoencoder: Vec<S>,
    pub clip: Vec<S>,
    pub t5: Vec<S>,
    pub clip_tokenizer: Vec<u8>,
    pub t5_tokenizer: Vec<u8>,
}

/// What a model runs with by default, where its weights do not say.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelDefaults {
    pub name: String,
    /// [width, height].
    pub resolution: [usize; 2],
    pub steps: usize,
    pub schedule_shift: Option<ScheduleShift>,
    pub cfg_scale: Option<f32>,
    pub t5_length: usize,
}

impl ModelDefaults {
    pub fn of_manifest(manifest: &Manifest) -> Self {
        Self {
            name: manifest.name.clone(),
            resolution: manifest.resolution,
            steps: manifest.default_steps,
            schedule_shift: manifest.schedule_shift.map(Into::into),
            cfg_scale: manifest.cfg_scale,
            t5_length: manifest.t5_length,
        }
    }

    /// The released FLUX.1 defaults for an imported transformer: dev (with
    /// a guidance input) 28 shifted steps and 512 T5 tokens, schnell 4 even
    /// steps and 256 tokens; 1024² either way.
    pub fn flux(name: &str, guidance_distilled: bool) -> Self {
        Self {
            name: name.into(),
            resolution: [1024, 1024],
            steps: if guidance_distilled { 28 } else { 4 },
            schedule_shift: guidance_distilled.then_some(ScheduleShift::DEV),
            cfg_scale: None,
            t5_length: if guidance_distilled {
                crate::text::T5_LENGTH_DEV
            } else {
                crate::text::T5_LENGTH_SCHNELL
            },
        }
    }
}

/// A file's weights under the names the models ask for (BFL's).
enum NamedWeights<S> {
    Bfl(FileWeights<S>),
    DiffusersTransformer(DiffusersNames<FileWeights<S>>),
    DiffusersAutoencoder(DiffusersVaeNames<FileWeights<S>>),
}

impl<S> NamedWeights<S> {
    fn new(file: FileWeights<S>, checkpoint: &Checkpoint) -> Self {
        match (checkpoint.naming, &checkpoint.config) {
            (Naming::Diffusers, ModelConfig::Transformer(_)) => {
                Self::DiffusersTransformer(DiffusersNames::new(file))
            }
            (Naming::Diffusers, ModelConfig::Autoencoder(config)) => {
                Self::DiffusersAutoencoder(DiffusersVaeNames::new(file, config.ch_mult.len()))
            }
            _ => Self::Bfl(file),
        }
    }
}

impl<S: ByteSource> WeightSource for NamedWeights<S> {
    fn take<'a>(&'a mut self, name: &'a str, used_as: TensorUse) -> TakeFuture<'a> {
        match self {
            Self::Bfl(file) => file.take(name, used_as),
            Self::DiffusersTransformer(file) => file.take(name, used_as),
            Self::DiffusersAutoencoder(file) => file.take(name, used_as),
        }
    }
}

/// The models a generation keeps loaded.
struct Resident {
    transformer: FluxTransformer,
    decoder: Decoder,
    encoder: Option<Encoder>,
}

/// A model ready to generate: its files' headers read and checked, its
/// tokenizers built. Weights are read when a generation needs them.
pub struct Pipeline<S> {
    defaults: ModelDefaults,
    configs: ManifestConfig,
    transformer_file: NamedWeights<S>,
    autoencoder_file: NamedWeights<S>,
    clip_file: FileWeights<S>,
    t5_file: FileWeights<S>,
    clip_tokenizer: ClipTokenizer,
    t5_tokenizer: T5Tokenizer,
    weight_bytes: [u64; 4],
    noise: NoiseKernel,
    resident: Option<Resident>,
}

/// An RGBA8 image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub width: usize,
    pub height: usize,
    pub rgba: Vec<u8>,
}

impl<S: ByteSource> Pipeline<S> {
    /// Reads the files' headers and checks each against its role. With
    /// `configs` (a manifest's), every file must hold exactly those models;
    /// without, each file's configuration is inferred from its shapes.
    pub async fn open(
        gpu: &Gpu,
        defaults: ModelDefaults,
        configs: Option<ManifestConfig>,
        files: ModelFiles<S>,
    ) -> Result<Self, PipelineError> {
        let transformer = FileWeights::open_shards(files.transformer).await?;
        let autoencoder = FileWeights::open_shards(files.autoencoder).await?;
        let clip = FileWeights::open_shards(files.clip).await?;
        let t5 = FileWeights::open_shards(files.t5).await?;
        let given = configs.clone().map(|configs| {
            [
                ModelConfig::Transformer(configs.transformer),
                ModelConfig::Autoencoder(configs.autoencoder),
                ModelConfig::Clip(configs.clip),
                ModelConfig::T5(configs.t5),
            ]
        });
        let mut found = Vec::new();
        for (position, (file, role)) in [
            (&transformer, Role::Transformer),
            (&autoencoder, Role::Autoencoder),
            (&clip, Role::Clip),
            (&t5, Role::T5),
        ]
        .into_iter()
        .enumerate()
        {
            let config = given.as_ref().map(|g| &g[position]);
            found.push(checked(file.name(), file.index(), role, config)?);
        }
        let (transformer_found, autoencoder_found) = (found[0].clone(), found[1].clone());
        let mut configs_found = found.into_iter().map(|checkpoint| checkpoint.config);
        let configs = match (
            configs_found.next(),
            configs_found.next(),
            configs_found.next(),
            configs_found.next(),
        ) {
            (
                Some(ModelConfig::Transformer(transformer)),
                Some(ModelConfig::Autoencoder(autoencoder)),
                Some(ModelConfig::Clip(clip)),
                Some(ModelConfig::T5(t5)),
            ) => ManifestConfig {
                transformer,
                autoencoder,
                clip,
                t5,
            },
            _ => unreachable!("checked() returns each file's own role"),
        };
        // Given or inferred, the four must fit together.
        configs
            .check()
            .map_err(|problem| PipelineError::Config(format!("{}: {problem}", defaults.name)))?;
        let weight_bytes = [
            gpu_weight_bytes(Role::Clip, clip.index().tensors()),
            gpu_weight_bytes(Role::T5, t5.index().tensors()),
            gpu_weight_bytes(Role::Transformer, transformer.index().tensors()),
            gpu_weight_bytes(Role::Autoencoder, autoencoder.index().tensors()),
        ];
        Ok(Self {
            defaults,
            configs,
            transformer_file: NamedWeights::new(transformer, &transformer_found),
            autoencoder_file: NamedWeights::new(autoencoder, &autoencoder_found),
            clip_file: clip,
            t5_file: t5,
            clip_tokenizer: ClipTokenizer::from_json(&files.clip_tokenizer)?,
            t5_tokenizer: T5Tokenizer::from_json(&files.t5_tokenizer)?,
            weight_bytes,
            noise: NoiseKernel::new(gpu),
            resident: None,
        })
    }

    pub fn defaults(&self) -> &ModelDefaults {
        &self.defaults
    }

    pub fn configs(&self) -> &ManifestConfig {
        &self.configs
    }

    /// What a `width` × `height` generation needs on `limits`.
    pub fn plan(
        &self,
        width: usize,
        height: usize,
        encodes_image: bool,
        limits: DeviceLimits,
    ) -> MemoryPlan {
        let [clip, t5, transformer, autoencoder] = self.weight_bytes;
        let models = PlanModels {
            transformer: (&self.configs.transformer, transformer),
            autoencoder: (&self.configs.autoencoder, autoencoder),
            clip: (&self.configs.clip, clip),
            t5: (&self.configs.t5, t5),
            t5_tokens: self.defaults.t5_length,
            encodes_image,
        };
        plan_memory(&models, width, height, limits)
    }

    /// Checks the request and the memory plan, encodes the prompt (loading
    /// and dropping the text encoders), loads the transformer and the
    /// autoencoder if they are not yet, and prepares the first step.
    pub async fn start<'p>(
        &'p mut self,
        gpu: &'p Gpu,
        request: &GenerateRequest,
    ) -> Result<Generation<'p>, PipelineError> {
        request.validate()?;
        let plan = self.plan(
            request.width,
            request.height,
            request.init_image.is_some(),
            DeviceLimits::of(gpu),
        );
        if !plan.fits() {
            return Err(PipelineError::DoesNotFit(Box::new(plan)));
        }
        let cfg_scale = request.cfg_scale.or(self.defaults.cfg_scale);
        let conditioning = self
            .encode_prompts(gpu, &request.prompt, cfg_scale.is_some())
            .await?;

        let needs_encoder = request.init_image.is_some();
        let loaded_encoder = self.resident.as_ref().is_some_and(|r| r.encoder.is_some());
        if self.resident.is_none() {
            let transformer = FluxTransformer::load(
                gpu,
                self.configs.transformer.clone(),
                &mut self.transformer_file,
            )
            .await?;
            let decoder = Decoder::load(
                gpu,
                self.configs.autoencoder.clone(),
                &mut self.autoencoder_file,
            )
            .await?;
            self.resident = Some(Resident {
                transformer,
                decoder,
                encoder: None,
            });
        }
        if needs_encoder && !loaded_encoder {
            let encoder = Encoder::load(
                gpu,
                self.configs.autoencoder.clone(),
                &mut self.autoencoder_file,
            )
            .await?;
            if let Some(resident) = self.resident.as_mut() {
                resident.encoder = Some(encoder);
            }
        }
        let resident = self.resident.as_ref().expect("loaded above");

        let scale = self.configs.autoencoder.pixels_per_latent();
        let (latent_h, latent_w) = (request.height / scale, request.width / scale);
        let (rows, cols) = (latent_h / 2, latent_w / 2);
        let z = self.configs.autoencoder.z_channels;
        let noise = pack_patches(
            gpu,
            &self
                .noise
                .sample(gpu, request.seed, &[z, latent_h, latent_w])?,
        )?;
        let schedule = timesteps(request.steps, self.defaults.schedule_shift, rows * cols);
        let (latent, first) = match &request.init_image {
            None => (noise, 0),
            Some(image) => {
                let encoder = resident.encoder.as_ref().expect("loaded above");
                let clean = pack_patches(gpu, &encoder.encode(gpu, &image_planes(gpu, image)?)?)?;
                let first = image_to_image_start(&schedule, f64::from(image.strength));
                (noised(gpu, &clean, &noise, schedule[first])?, first)
            }
        };
        let positions = resident.transformer.positions(
            gpu,
            &text_ids(self.defaults.t5_length),
            &image_ids(rows, cols),
        )?;
        let guidance = self
            .configs
            .transformer
            .guidance_embed
            .then(|| request.guidance.unwrap_or(DEFAULT_GUIDANCE));
        Ok(Generation {
            gpu,
            resident,
            conditioning,
            positions,
            guidance,
            cfg_scale,
            schedule,
            next: first,
            first,
            latent,
            predicted_clean: None,
            width: request.width,
            height: request.height,
        })
    }

    /// Runs a whole generation, calling `on_step` after every step (it can
    /// draw the step with [`Generation::frame`]), and returns the image.
    pub async fn generate(
        &mut self,
        gpu: &Gpu,
        request: &GenerateRequest,
        mut on_step: impl FnMut(&Generation<'_>, &StepInfo) -> Result<(), PipelineError>,
    ) -> Result<Frame, PipelineError> {
        let mut generation = self.start(gpu, request).await?;
        while let Some(step) = generation.step()? {
            on_step(&generation, &step)?;
        }
        generation.finish().await
    }

    /// The text conditioning of `prompt` and, for true CFG, of the empty
    /// prompt: each encoder is loaded, run on both and dropped.
    async fn encode_prompts(
        &mut self,
        gpu: &Gpu,
        prompt: &str,
        unconditional: bool,
    ) -> Result<Conditioning, PipelineError> {
        let prompts: Vec<&str> = if unconditional {
            vec![prompt, ""]
        } else {
            vec![prompt]
        };
        let mut pooled = Vec::new();
        let mut truncations = Vec::new();
        {
            let clip =
                ClipTextModel::load(gpu, self.configs.clip.clone(), &mut self.clip_file).await?;
            for text in &prompts {
                let tokens = self.clip_tokenizer.encode(text)?;
                truncations.extend(tokens.truncation.clone());
                pooled.push(clip.forward(gpu, &tokens.ids)?.1);
            }
        }
        let mut states = Vec::new();
        {
            let t5 = T5Encoder::load(gpu, self.configs.t5.clone(), &mut self.t5_file).await?;
            for text in &prompts {
                let tokens = self.t5_tokenizer.encode(text, self.defaults.t5_length)?;
                truncations.extend(tokens.truncation.clone());
                states.push(t5.forward(gpu, &tokens.ids)?);
            }
        }
        let mut pairs = states.into_iter().zip(pooled);
        let (txt, y) = pairs.next().expect("one prompt at least");
        Ok(Conditioning {
            txt,
            y,
            unconditional: pairs.next(),
            truncations,
        })
    }
}

/// Checks the file `name` with tensors `index` holds a `role` model:
/// against `config` when given, else as detected from its shapes.
pub(crate) fn checked(
    name: &str,
    index: &TensorIndex,
    role: Role,
    config: Option<&ModelConfig>,
) -> Result<Checkpoint, PipelineError> {
    let error = |problem| crate::checkpoint::CheckpointError {
        file: name.into(),
        problem,
    };
    let detected = detect(name, index);
    let checkpoint = match config {
        None => detected?,
        Some(config) => {
            let naming = match &detected {
                Ok(found) => found.naming,
                Err(_) => naming_of(index),
            };
            let checkpoint = Checkpoint {
                naming,
                config: config.clone(),
            };
            check_layout(index, &checkpoint).map_err(error)?;
            checkpoint
        }
    };
    if checkpoint.role() != role {
        return Err(error(crate::checkpoint::CheckpointProblem::WrongRole {
            found: checkpoint.role(),
            wanted: role,
        })
        .into());
    }
    Ok(checkpoint)
}

/// The start image as planes [3, H, W] in [−1, 1].
fn image_planes(gpu: &Gpu, image: &InitImage) -> Result<Tensor, PipelineError> {
    let pixels = image.width * image.height;
    let mut planes = vec![0f32; 3 * pixels];
    for (index, pixel) in image.rgba.chunks_exact(4).enumerate() {
        for channel in 0..3 {
            planes[channel * pixels + index] = f32::from(pixel[channel]) / 127.5 - 1.0;
        }
    }
    Ok(Tensor::from_slice(
        gpu,
        &planes,
        &[3, image.height, image.width],
    )?)
}

/// The prompt's T5 states and CLIP vector, and the empty prompt's for CFG.
struct Conditioning {
    txt: Tensor,
    y: Tensor,
    unconditional: Option<(Tensor, Tensor)>,
    /// Where the prompt was longer than an encoder reads.
    truncations: Vec<Truncation>,
}

/// What a step reports.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepInfo {
    /// 0 for the first step run.
    pub index: usize,
    /// How many steps this generation runs (fewer than requested for
    /// image-to-image below strength 1).
    pub count: usize,
    /// The time the model was evaluated at (1 is pure noise).
    pub t: f64,
}

/// Which latent a frame shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Show {
    /// The latent after the last step.
    Current,
    /// The clean image the model predicted at the last step.
    PredictedClean,
}

/// One generation in progress.
pub struct Generation<'p> {
    gpu: &'p Gpu,
    resident: &'p Resident,
    conditioning: Conditioning,
    positions: Positions,
    guidance: Option<f32>,
    cfg_scale: Option<f32>,
    schedule: Vec<f64>,
    /// The index in `schedule` of the next step's time.
    next: usize,
    first: usize,
    /// The current latent, packed as image tokens.
    latent: Tensor,
    predicted_clean: Option<Tensor>,
    width: usize,
    height: usize,
}

impl Generation<'_> {
    /// Where the prompt was cut to what an encoder reads (the user should be
    /// told: the end of the prompt has no effect).
    pub fn truncations(&self) -> &[Truncation] {
        &self.conditioning.truncations
    }

    /// Steps this generation runs in all.
    pub fn step_count(&self) -> usize {
        self.schedule.len() - 1 - self.first
    }

    /// Runs the next step, or returns `None` when all have run. Records GPU
    /// work only; nothing is read back.
    pub fn step(&mut self) -> Result<Option<StepInfo>, PipelineError> {
        if self.next + 1 >= self.schedule.len() {
            return Ok(None);
        }
        let (t, t_next) = (self.schedule[self.next], self.schedule[self.next + 1]);
        let velocity = self.velocity(t)?;
        let (latent, predicted_clean) = euler_step(self.gpu, &self.latent, &velocity, t, t_next)?;
        self.latent = latent;
        self.predicted_clean = Some(predicted_clean);
        let info = StepInfo {
            index: self.next - self.first,
            count: self.step_count(),
            t,
        };
        self.next += 1;
        Ok(Some(info))
    }

    /// The transformer's velocity at `t`, guided by CFG when asked.
    fn velocity(&self, t: f64) -> Result<Tensor, PipelineError> {
        let gpu = self.gpu;
        let predict = |txt: &Tensor, y: &Tensor| {
            self.resident.transformer.forward(
                gpu,
                &FluxInputs {
                    img: &self.latent,
                    txt,
                    positions: &self.positions,
                    timestep: t as f32,
                    y,
                    guidance: self.guidance,
                },
            )
        };
        let conditional = predict(&self.conditioning.txt, &self.conditioning.y)?;
        match (self.cfg_scale, &self.conditioning.unconditional) {
            (Some(scale), Some((txt, y))) => {
                let unconditional = predict(txt, y)?;
                let difference = binary(gpu, Binary::Sub, &conditional, &unconditional)?;
                let scaled = unary(gpu, Unary::Scale(scale), &difference)?;
                Ok(binary(gpu, Binary::Add, &unconditional, &scaled)?)
            }
            _ => Ok(conditional),
        }
    }

    /// The latent `show` names, as image tokens (before any step, the
    /// start latent for both).
    pub fn latent(&self, show: Show) -> &Tensor {
        match (show, &self.predicted_clean) {
            (Show::PredictedClean, Some(clean)) => clean,
            _ => &self.latent,
        }
    }

    /// Decodes the latent `show` names to an image [3, height, width] in
    /// about [-1, 1], left on the GPU (a page draws it straight into its
    /// canvas with `sculpt_gpu::present`).
    pub fn image(&self, show: Show) -> Result<Tensor, PipelineError> {
        decode_image(
            self.gpu,
            &self.resident.decoder,
            self.latent(show),
            self.width,
            self.height,
        )
    }

    /// Decodes the latent `show` names to an RGBA8 frame (reads it back).
    pub async fn frame(&self, show: Show) -> Result<Frame, PipelineError> {
        let rgba = to_rgba8(self.gpu, &self.image(show)?).await?;
        Ok(Frame {
            width: self.width,
            height: self.height,
            rgba,
        })
    }

    /// Runs the remaining steps and decodes the final latent.
    pub async fn finish(mut self) -> Result<Frame, PipelineError> {
        while self.step()?.is_some() {}
        self.frame(Show::Current).await
    }
}

/// Image tokens → latent → image [3, height, width].
fn decode_image(
    gpu: &Gpu,
    decoder: &Decoder,
    tokens: &Tensor,
    width: usize,
    height: usize,
) -> Result<Tensor, PipelineError> {
    let scale = decoder.config().pixels_per_latent();
    let latent = unpack_patches(gpu, tokens, height / scale, width / scale)?;
    Ok(decoder.decode(gpu, &latent)?)
}
