//! A model opened on the GPU: its files' headers read and checked, its
//! tokenizers built. Weights stream to the GPU when a generation needs them:
//! the text encoders are loaded, run on the prompt and dropped; the
//! transformer and the autoencoder are loaded once and kept.

use std::collections::BTreeMap;
use std::rc::Rc;

use sculpt_gpu::{Gpu, Tensor, kernels::layout::pack_patches, kernels::noise::NoiseKernel};

use super::backend::{GpuBackend, GpuPreview, GpuText, Resident};
use super::named_weights::NamedWeights;
use super::text_encoder::GpuTextEncoder;
use crate::checkpoint::{Role, gpu_weight_bytes};
use crate::family::{Family, ModelConfigs, PromptTokenizer, TextOutput, TextStage};
use crate::formats::ByteSource;
use crate::generation::{Conditioning, Generation, Pipeline, RunPlan};
use crate::models::autoencoder::{Decoder, Encoder};
use crate::models::flux1::{FluxTransformer, image_ids, text_ids};
use crate::models::preview::PreviewDecoder;
use crate::pipeline::{
    DeviceLimits, GenerateRequest, InitImage, MemoryPlan, ModelDefaults, ModelFiles, PipelineError,
    PlanModels, checked, plan_memory,
};
use crate::weights::FileWeights;

/// A model ready to generate on a GPU.
pub struct GpuPipeline<S> {
    gpu: Rc<Gpu>,
    defaults: ModelDefaults,
    family: Family,
    configs: ModelConfigs,
    transformer_file: NamedWeights<S>,
    autoencoder_file: NamedWeights<S>,
    /// The family's text encoders, in the order they run.
    text_encoders: Vec<TextEncoderFile<S>>,
    weight_bytes: BTreeMap<Role, u64>,
    noise: Rc<NoiseKernel>,
    resident: Option<Rc<Resident>>,
    /// The preview decoder steps are drawn with, uploaded with the decoder.
    preview: Option<PreviewDecoder>,
    /// Loaded with the first start image; only `start` uses it.
    encoder: Option<Encoder>,
}

/// A text encoder's file and tokenizer, loaded for each prompt encoding.
struct TextEncoderFile<S> {
    stage: TextStage,
    file: FileWeights<S>,
    tokenizer: PromptTokenizer,
}

impl<S: ByteSource> GpuPipeline<S> {
    /// Reads the files' headers and checks each against its role in the
    /// files' family. With `configs` (a manifest's), every file must hold
    /// exactly those models; without, each file's configuration is inferred
    /// from its shapes.
    pub async fn open(
        gpu: Rc<Gpu>,
        defaults: ModelDefaults,
        configs: Option<ModelConfigs>,
        mut files: ModelFiles<S>,
    ) -> Result<Self, PipelineError> {
        let family = files.family.clone();
        let config_error =
            |problem: String| PipelineError::Config(format!("{}: {problem}", defaults.name));
        if let Some(configs) = &configs {
            family.check(configs).map_err(config_error)?;
        }
        let mut opened = BTreeMap::new();
        for (role, sources) in files.take_weights()? {
            let file = FileWeights::open_shards(sources).await?;
            let given = configs.as_ref().and_then(|configs| configs.get(role));
            let checkpoint = checked(file.name(), file.index(), role, given)?;
            opened.insert(role, (file, checkpoint));
        }
        let found = ModelConfigs::new(opened.values().map(|(_, found)| found.config.clone()));
        // Given or inferred, the models must fit together.
        family.check(&found).map_err(config_error)?;
        let weight_bytes = opened
            .iter()
            .map(|(role, (file, _))| (*role, gpu_weight_bytes(*role, file.index().tensors())))
            .collect();
        let mut named = |role| {
            let (file, found) = opened.remove(&role).expect("every role of the family");
            NamedWeights::new(file, &found)
        };
        let transformer_file = named(Role::Transformer);
        let autoencoder_file = named(Role::Autoencoder);
        let mut text_encoders = Vec::new();
        for stage in &family.text_encoders {
            let (file, _) = opened
                .remove(&stage.role)
                .expect("every role of the family");
            text_encoders.push(TextEncoderFile {
                stage: *stage,
                file,
                tokenizer: PromptTokenizer::of_role(stage.role, files.tokenizer(stage.role)?)?,
            });
        }
        let preview = files.preview_decoder(found.autoencoder()).await?;
        let noise = Rc::new(NoiseKernel::new(&gpu));
        Ok(Self {
            gpu,
            defaults,
            family,
            configs: found,
            transformer_file,
            autoencoder_file,
            text_encoders,
            weight_bytes,
            noise,
            resident: None,
            preview,
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
        let models = PlanModels {
            family: &self.family,
            configs: &self.configs,
            weight_bytes: &self.weight_bytes,
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
                self.configs.transformer().clone(),
                &mut self.transformer_file,
            )
            .await?;
            let decoder = Decoder::load(
                gpu,
                self.configs.autoencoder().clone(),
                &mut self.autoencoder_file,
            )
            .await?;
            let preview = self
                .preview
                .as_ref()
                .map(|preview| GpuPreview::new(gpu, preview))
                .transpose()?;
            self.resident = Some(Rc::new(Resident {
                transformer,
                decoder,
                preview,
            }));
        }
        if needs_encoder && self.encoder.is_none() {
            let encoder = Encoder::load(
                gpu,
                self.configs.autoencoder().clone(),
                &mut self.autoencoder_file,
            )
            .await?;
            self.encoder = Some(encoder);
        }
        Ok(())
    }

    /// The text conditioning of `prompt` and, for true CFG, of the empty
    /// prompt: each of the family's encoders is loaded, run on both and
    /// dropped. Without a pooled encoder the transformer's vector input is
    /// zeros.
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
        let mut pooled: Vec<Option<Tensor>> = prompts.iter().map(|_| None).collect();
        let mut states: Vec<Option<Tensor>> = prompts.iter().map(|_| None).collect();
        let mut truncations = Vec::new();
        for text in &mut self.text_encoders {
            let config = self.configs.get(text.stage.role).expect("checked at open");
            let encoder = GpuTextEncoder::load(gpu, config, &mut text.file).await?;
            for (index, prompt) in prompts.iter().enumerate() {
                let tokens = text.tokenizer.encode(prompt, self.defaults.t5_length)?;
                truncations.extend(tokens.truncation);
                let output = encoder.output(gpu, &tokens.ids, text.stage.output)?;
                match text.stage.output {
                    TextOutput::Pooled => pooled[index] = Some(output),
                    TextOutput::States => states[index] = Some(output),
                }
            }
        }
        let vec_in_dim = self.configs.transformer().vec_in_dim;
        let mut texts = Vec::new();
        for (states, pooled) in states.into_iter().zip(pooled) {
            let pooled = match pooled {
                Some(pooled) => pooled,
                None => Tensor::from_slice(gpu, &vec![0.0; vec_in_dim], &[vec_in_dim])?,
            };
            texts.push(GpuText {
                states: states.expect("every family has a states encoder"),
                pooled,
            });
        }
        let mut texts = texts.into_iter();
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

    fn family(&self) -> &Family {
        &self.family
    }

    fn configs(&self) -> &ModelConfigs {
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
            &text_ids(self.family.text_tokens(self.defaults.t5_length)),
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
