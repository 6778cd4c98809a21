//! A model opened on the GPU: its files' headers read and checked, its
//! tokenizers built. Weights stream to the GPU when a generation needs them:
//! the text encoders are loaded, run on the prompt and dropped; the
//! transformer and the autoencoder are loaded once and kept.

use std::rc::Rc;

use sculpt_gpu::{Gpu, Tensor, kernels::layout::pack_patches, kernels::noise::NoiseKernel};

use super::backend::{GpuBackend, GpuText, Resident};
use super::named_weights::NamedWeights;
use crate::checkpoint::{ModelConfig, Role, gpu_weight_bytes};
use crate::clip::ClipTextModel;
use crate::flux::autoencoder::{Decoder, Encoder};
use crate::flux::{FluxTransformer, image_ids, text_ids};
use crate::formats::ByteSource;
use crate::generation::{Conditioning, Generation, Pipeline, RunPlan};
use crate::pipeline::{
    DeviceLimits, GenerateRequest, InitImage, ManifestConfig, MemoryPlan, ModelDefaults,
    ModelFiles, PipelineError, PlanModels, checked, plan_memory,
};
use crate::t5::T5Encoder;
use crate::text::{ClipTokenizer, T5Tokenizer};
use crate::weights::FileWeights;

/// A model ready to generate on a GPU.
pub struct GpuPipeline<S> {
    gpu: Rc<Gpu>,
    defaults: ModelDefaults,
    configs: ManifestConfig,
    transformer_file: NamedWeights<S>,
    autoencoder_file: NamedWeights<S>,
    clip_file: FileWeights<S>,
    t5_file: FileWeights<S>,
    clip_tokenizer: ClipTokenizer,
    t5_tokenizer: T5Tokenizer,
    weight_bytes: [u64; 4],
    noise: Rc<NoiseKernel>,
    resident: Option<Rc<Resident>>,
    /// Loaded with the first start image; only `start` uses it.
    encoder: Option<Encoder>,
}

impl<S: ByteSource> GpuPipeline<S> {
    /// Reads the files' headers and checks each against its role. With
    /// `configs` (a manifest's), every file must hold exactly those models;
    /// without, each file's configuration is inferred from its shapes.
    pub async fn open(
        gpu: Rc<Gpu>,
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
        let noise = Rc::new(NoiseKernel::new(&gpu));
        Ok(Self {
            gpu,
            defaults,
            configs,
            transformer_file: NamedWeights::new(transformer, &transformer_found),
            autoencoder_file: NamedWeights::new(autoencoder, &autoencoder_found),
            clip_file: clip,
            t5_file: t5,
            clip_tokenizer: ClipTokenizer::from_json(&files.clip_tokenizer)?,
            t5_tokenizer: T5Tokenizer::from_json(&files.t5_tokenizer)?,
            weight_bytes,
            noise,
            resident: None,
            encoder: None,
        })
    }

    pub fn gpu(&self) -> &Gpu {
        &self.gpu
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

    /// Loads the transformer and the decoder if they are not yet, and the
    /// encoder when a start image needs it.
    async fn load(&mut self, needs_encoder: bool) -> Result<(), PipelineError> {
        let gpu = &*self.gpu;
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
            self.resident = Some(Rc::new(Resident {
                transformer,
                decoder,
            }));
        }
        if needs_encoder && self.encoder.is_none() {
            let encoder = Encoder::load(
                gpu,
                self.configs.autoencoder.clone(),
                &mut self.autoencoder_file,
            )
            .await?;
            self.encoder = Some(encoder);
        }
        Ok(())
    }

    /// The text conditioning of `prompt` and, for true CFG, of the empty
    /// prompt: each encoder is loaded, run on both and dropped.
    async fn encode_prompts(
        &mut self,
        prompt: &str,
        unconditional: bool,
    ) -> Result<Conditioning<GpuText>, PipelineError> {
        let gpu = &*self.gpu;
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
        let mut texts = states
            .into_iter()
            .zip(pooled)
            .map(|(states, pooled)| GpuText { states, pooled });
        Ok(Conditioning {
            prompt: texts.next().expect("one prompt at least"),
            unconditional: texts.next(),
            truncations,
        })
    }
}

impl<S: ByteSource> Pipeline for GpuPipeline<S> {
    type Backend = GpuBackend;

    fn defaults(&self) -> &ModelDefaults {
        &self.defaults
    }

    fn configs(&self) -> &ManifestConfig {
        &self.configs
    }

    /// Checks the request and the memory plan, encodes the prompt (loading
    /// and dropping the text encoders), loads the transformer and the
    /// autoencoder if they are not yet, and prepares the first step.
    async fn start(
        &mut self,
        request: &GenerateRequest,
    ) -> Result<Generation<GpuBackend>, PipelineError> {
        let plan = RunPlan::new(request, &self.defaults, &self.configs)?;
        let memory = self.plan(
            request.width,
            request.height,
            request.init_image.is_some(),
            DeviceLimits::of(&self.gpu),
        );
        if !memory.fits() {
            return Err(PipelineError::DoesNotFit(Box::new(memory)));
        }
        let text = self
            .encode_prompts(&request.prompt, plan.cfg_scale.is_some())
            .await?;
        self.load(request.init_image.is_some()).await?;

        let gpu = &*self.gpu;
        let resident = self.resident.as_ref().expect("loaded above");
        let (rows, cols) = plan.shape.token_grid();
        let positions = resident.transformer.positions(
            gpu,
            &text_ids(self.defaults.t5_length),
            &image_ids(rows, cols),
        )?;
        let clean = match &request.init_image {
            None => None,
            Some(image) => {
                let encoder = self.encoder.as_ref().expect("loaded above");
                Some(pack_patches(
                    gpu,
                    &encoder.encode(gpu, &image_planes(gpu, image)?)?,
                )?)
            }
        };
        let backend = GpuBackend {
            gpu: Rc::clone(&self.gpu),
            resident: Rc::clone(resident),
            positions,
            noise: Rc::clone(&self.noise),
        };
        let noise = backend.noise(plan.seed, &plan.shape)?;
        Generation::new(backend, plan, text, noise, clean)
    }
}

/// The start image on the GPU, as the encoder reads it.
fn image_planes(gpu: &Gpu, image: &InitImage) -> Result<Tensor, PipelineError> {
    Ok(Tensor::from_slice(
        gpu,
        &image.planes(),
        &[3, image.height, image.width],
    )?)
}
