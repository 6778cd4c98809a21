//! A model opened on the CPU: every model loaded once and kept (the
//! fallback runs small models only), and the start of each generation.

use std::collections::BTreeMap;
use std::rc::Rc;

use candle_core::{DType, Device, Module, Tensor};
use candle_transformers::models::flux;

use super::autoencoder::{Decoder, Encoder};
use super::backend::{CpuBackend, CpuPreview, CpuText, Resident};
use super::models::{CpuTextEncoder, autoencoder_config, flux_config};
use super::weights::{CheckedFile, MAX_CPU_WEIGHT_BYTES};
use crate::checkpoint::Role;
use crate::family::{Family, ModelConfigs, PromptTokenizer, TextOutput, TextStage};
use crate::formats::ByteSource;
use crate::generation::{Conditioning, Generation, Pipeline, RunPlan};
use crate::pipeline::{GenerateRequest, InitImage, ModelDefaults, ModelFiles, PipelineError};
use crate::text::Truncation;

/// A model ready to generate on the CPU.
pub struct CpuPipeline {
    defaults: ModelDefaults,
    family: Family,
    configs: ModelConfigs,
    /// The family's text encoders, in the order they run.
    text_encoders: Vec<(TextStage, CpuTextEncoder, PromptTokenizer)>,
    encoder: Encoder,
    resident: Rc<Resident>,
}

impl CpuPipeline {
    /// Reads and checks the files against `configs` (a manifest's; the
    /// fallback infers nothing), then loads every model.
    pub async fn open<S: ByteSource>(
        defaults: ModelDefaults,
        configs: ModelConfigs,
        mut files: ModelFiles<S>,
    ) -> Result<Self, PipelineError> {
        let family = files.family.clone();
        let config_error =
            |problem: String| PipelineError::Config(format!("{}: {problem}", defaults.name));
        family.check(&configs).map_err(config_error)?;
        let mut opened = BTreeMap::new();
        for (role, sources) in files.take_weights()? {
            let config = configs.get(role).expect("checked above").clone();
            opened.insert(role, CheckedFile::open(sources, config).await?);
        }
        let bytes = opened.values().map(|file| file.f32_bytes()).sum::<u64>();
        if bytes > MAX_CPU_WEIGHT_BYTES {
            return Err(PipelineError::NotForCpu(format!(
                "{}'s weights take {} MiB as f32, more than the {} MiB the CPU holds; \
                 large models such as FLUX.1 need WebGPU",
                defaults.name,
                bytes >> 20,
                MAX_CPU_WEIGHT_BYTES >> 20
            )));
        }
        let mut take = |role| opened.remove(&role).expect("every role of the family");
        let ae_config = autoencoder_config(configs.autoencoder());
        let transformer = flux::model::Flux::new(
            &flux_config(configs.transformer()),
            take(Role::Transformer).into_var_builder().await?,
        )?;
        let ae = take(Role::Autoencoder).into_var_builder().await?;
        let decoder = Decoder::new(&ae_config, ae.pp("decoder"))?;
        let encoder = Encoder::new(&ae_config, ae.pp("encoder"))?;
        let preview = files
            .preview_decoder(configs.autoencoder())
            .await?
            .map(|preview| CpuPreview::new(&preview))
            .transpose()?;
        let mut text_encoders = Vec::new();
        for stage in &family.text_encoders {
            let config = configs.get(stage.role).expect("checked above");
            let weights = take(stage.role).into_var_builder().await?;
            text_encoders.push((
                *stage,
                CpuTextEncoder::new(config, weights)?,
                PromptTokenizer::of_role(stage.role, files.tokenizer(stage.role)?)?,
            ));
        }
        Ok(Self {
            text_encoders,
            encoder,
            resident: Rc::new(Resident {
                transformer,
                decoder,
                autoencoder: ae_config,
                preview,
            }),
            defaults,
            family,
            configs,
        })
    }

    /// The text conditioning of `prompt`: each encoder's output where the
    /// family routes it; zeros for the vector input without a pooled
    /// encoder.
    fn encode(
        &mut self,
        prompt: &str,
        truncations: &mut Vec<Truncation>,
    ) -> Result<CpuText, PipelineError> {
        let cpu = &Device::Cpu;
        let (mut states, mut pooled) = (None, None);
        for (stage, encoder, tokenizer) in &mut self.text_encoders {
            let tokens = tokenizer.encode(prompt, self.defaults.t5_length)?;
            truncations.extend(tokens.truncation);
            let ids = Tensor::from_slice(&tokens.ids, (1, tokens.ids.len()), cpu)?;
            let output = encoder.output(&ids, stage.output)?;
            match stage.output {
                TextOutput::Pooled => pooled = Some(output),
                TextOutput::States => states = Some(output),
            }
        }
        let pooled = match pooled {
            Some(pooled) => pooled,
            None => Tensor::zeros((1, self.configs.transformer().vec_in_dim), DType::F32, cpu)?,
        };
        Ok(CpuText {
            states: states.expect("every family has a states encoder"),
            pooled,
        })
    }

    /// The start image's clean latent [1, z, h/8, w/8]: the encoder's mean
    /// (candle's `AutoEncoder::encode` would sample around it), shifted and
    /// scaled as the GPU pipeline does.
    fn encode_image(&self, image: &InitImage) -> Result<Tensor, PipelineError> {
        let planes = Tensor::from_vec(
            image.planes(),
            (1, 3, image.height, image.width),
            &Device::Cpu,
        )?;
        let moments = self.encoder.forward(&planes)?;
        let z = self.configs.autoencoder().z_channels;
        let a = &self.resident.autoencoder;
        Ok(((moments.narrow(1, 0, z)? - a.shift_factor)? * a.scale_factor)?)
    }
}

impl Pipeline for CpuPipeline {
    type Backend = CpuBackend;

    fn defaults(&self) -> &ModelDefaults {
        &self.defaults
    }

    fn family(&self) -> &Family {
        &self.family
    }

    fn configs(&self) -> &ModelConfigs {
        &self.configs
    }

    /// Checks the request, encodes the prompt (and the empty prompt for
    /// true CFG) and prepares the first step: the seed's noise, or the
    /// start image noised to its first time.
    async fn start(
        &mut self,
        request: &GenerateRequest,
    ) -> Result<Generation<CpuBackend>, PipelineError> {
        let plan = RunPlan::new(request, &self.defaults, &self.configs)?;
        let cpu = &Device::Cpu;
        let mut truncations = Vec::new();
        let prompt = self.encode(&request.prompt, &mut truncations)?;
        let unconditional = match plan.cfg_scale {
            Some(_) => Some(self.encode("", &mut truncations)?),
            None => None,
        };

        let shape = &plan.shape;
        let noise = sculpt_gpu::kernels::noise::gaussian_cpu(
            plan.seed,
            shape.channels * shape.height * shape.width,
        );
        let noise = Tensor::from_vec(noise, (1, shape.channels, shape.height, shape.width), cpu)?;
        // candle's packing (2×2 patches, feature c·4 + ph·2 + pw) and
        // position ids are Sculpt's.
        let state = flux::sampling::State::new(&prompt.states, &prompt.pooled, &noise)?;
        let clean = match &request.init_image {
            None => None,
            Some(image) => {
                let clean = self.encode_image(image)?;
                Some(flux::sampling::State::new(&prompt.states, &prompt.pooled, &clean)?.img)
            }
        };
        let backend = CpuBackend {
            resident: Rc::clone(&self.resident),
            img_ids: state.img_ids,
            txt_ids: state.txt_ids,
        };
        let text = Conditioning {
            prompt,
            unconditional,
            truncations,
        };
        Generation::new(backend, plan, text, state.img, clean)
    }
}
