//! A model opened on the CPU: every model loaded once and kept (the
//! fallback runs small models only), and the start of each generation.

use std::rc::Rc;

use candle_core::{Device, Module, Tensor};
use candle_transformers::models::flux;

use super::autoencoder::{Decoder, Encoder};
use super::backend::{CpuBackend, CpuText, Resident};
use super::models::{Clip, T5, autoencoder_config, flux_config};
use super::weights::{CheckedFile, MAX_CPU_WEIGHT_BYTES};
use crate::checkpoint::ModelConfig;
use crate::formats::ByteSource;
use crate::generation::{Conditioning, Generation, Pipeline, RunPlan};
use crate::pipeline::{
    GenerateRequest, InitImage, ManifestConfig, ModelDefaults, ModelFiles, PipelineError,
};
use crate::text::{ClipTokenizer, T5Tokenizer};

/// A model ready to generate on the CPU.
pub struct CpuPipeline {
    defaults: ModelDefaults,
    configs: ManifestConfig,
    clip: Clip,
    t5: T5,
    encoder: Encoder,
    resident: Rc<Resident>,
    clip_tokenizer: ClipTokenizer,
    t5_tokenizer: T5Tokenizer,
}

impl CpuPipeline {
    /// Reads and checks the files against `configs` (a manifest's; the
    /// fallback infers nothing), then loads every model.
    pub async fn open<S: ByteSource>(
        defaults: ModelDefaults,
        configs: ManifestConfig,
        files: ModelFiles<S>,
    ) -> Result<Self, PipelineError> {
        configs
            .check()
            .map_err(|problem| PipelineError::Config(format!("{}: {problem}", defaults.name)))?;
        let transformer = CheckedFile::open(
            files.transformer,
            ModelConfig::Transformer(configs.transformer.clone()),
        )
        .await?;
        let autoencoder = CheckedFile::open(
            files.autoencoder,
            ModelConfig::Autoencoder(configs.autoencoder.clone()),
        )
        .await?;
        let clip = CheckedFile::open(files.clip, ModelConfig::Clip(configs.clip.clone())).await?;
        let t5 = CheckedFile::open(files.t5, ModelConfig::T5(configs.t5.clone())).await?;
        let bytes = [&transformer, &autoencoder, &clip, &t5]
            .iter()
            .map(|file| file.f32_bytes())
            .sum::<u64>();
        if bytes > MAX_CPU_WEIGHT_BYTES {
            return Err(PipelineError::NotForCpu(format!(
                "{}'s weights take {} MiB as f32, more than the {} MiB the CPU holds; \
                 large models such as FLUX.1 need WebGPU",
                defaults.name,
                bytes >> 20,
                MAX_CPU_WEIGHT_BYTES >> 20
            )));
        }
        let ae_config = autoencoder_config(&configs.autoencoder);
        let transformer = flux::model::Flux::new(
            &flux_config(&configs.transformer),
            transformer.into_var_builder().await?,
        )?;
        let ae = autoencoder.into_var_builder().await?;
        let decoder = Decoder::new(&ae_config, ae.pp("decoder"))?;
        let encoder = Encoder::new(&ae_config, ae.pp("encoder"))?;
        Ok(Self {
            clip: Clip::new(&configs.clip, clip.into_var_builder().await?)?,
            t5: T5::new(&configs.t5, t5.into_var_builder().await?)?,
            encoder,
            resident: Rc::new(Resident {
                transformer,
                decoder,
                autoencoder: ae_config,
            }),
            clip_tokenizer: ClipTokenizer::from_json(&files.clip_tokenizer)?,
            t5_tokenizer: T5Tokenizer::from_json(&files.t5_tokenizer)?,
            defaults,
            configs,
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
        let z = self.configs.autoencoder.z_channels;
        let a = &self.resident.autoencoder;
        Ok(((moments.narrow(1, 0, z)? - a.shift_factor)? * a.scale_factor)?)
    }
}

impl Pipeline for CpuPipeline {
    type Backend = CpuBackend;

    fn defaults(&self) -> &ModelDefaults {
        &self.defaults
    }

    fn configs(&self) -> &ManifestConfig {
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
        let mut encode = |prompt: &str| -> Result<CpuText, PipelineError> {
            let clip_tokens = self.clip_tokenizer.encode(prompt)?;
            let t5_tokens = self.t5_tokenizer.encode(prompt, self.defaults.t5_length)?;
            truncations.extend(clip_tokens.truncation.clone());
            truncations.extend(t5_tokens.truncation.clone());
            let row = |ids: &[u32]| Tensor::from_slice(ids, (1, ids.len()), cpu);
            Ok(CpuText {
                states: self.t5.states(&row(&t5_tokens.ids)?)?,
                pooled: self.clip.pooled(&row(&clip_tokens.ids)?)?,
            })
        };
        let prompt = encode(&request.prompt)?;
        let unconditional = match plan.cfg_scale {
            Some(_) => Some(encode("")?),
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
