//! A model opened on the CPU: every model loaded once and kept (the
//! fallback runs small models only), and the start of each generation.

use candle_core::{Device, Module, Tensor};
use candle_transformers::models::flux;

use super::autoencoder::{Decoder, Encoder};
use super::generation::{CpuGeneration, Text};
use super::models::{Clip, T5, autoencoder_config, flux_config};
use super::weights::{CheckedFile, MAX_CPU_WEIGHT_BYTES};
use crate::checkpoint::ModelConfig;
use crate::formats::ByteSource;
use crate::pipeline::{
    DEFAULT_GUIDANCE, Frame, GenerateRequest, InitImage, ManifestConfig, ModelDefaults, ModelFiles,
    PipelineError, StepInfo,
};
use crate::sampler::{image_to_image_start, timesteps};
use crate::text::{ClipTokenizer, T5Tokenizer};

/// The loaded models a generation borrows.
pub(super) struct Resident {
    pub transformer: flux::model::Flux,
    pub decoder: Decoder,
    pub autoencoder: flux::autoencoder::Config,
}

/// A model ready to generate on the CPU.
pub struct CpuPipeline {
    defaults: ModelDefaults,
    configs: ManifestConfig,
    clip: Clip,
    t5: T5,
    encoder: Encoder,
    resident: Resident,
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
            resident: Resident {
                transformer,
                decoder,
                autoencoder: ae_config,
            },
            clip_tokenizer: ClipTokenizer::from_json(&files.clip_tokenizer)?,
            t5_tokenizer: T5Tokenizer::from_json(&files.t5_tokenizer)?,
            defaults,
            configs,
        })
    }

    pub fn defaults(&self) -> &ModelDefaults {
        &self.defaults
    }

    pub fn configs(&self) -> &ManifestConfig {
        &self.configs
    }

    /// Checks the request, encodes the prompt (and the empty prompt for
    /// true CFG) and prepares the first step: the seed's noise, or the
    /// start image noised to its first time.
    pub fn start(&mut self, request: &GenerateRequest) -> Result<CpuGeneration<'_>, PipelineError> {
        request.validate()?;
        let cpu = &Device::Cpu;
        let cfg_scale = request.cfg_scale.or(self.defaults.cfg_scale);
        let mut truncations = Vec::new();
        let mut encode = |prompt: &str| -> Result<Text, PipelineError> {
            let clip_tokens = self.clip_tokenizer.encode(prompt)?;
            let t5_tokens = self.t5_tokenizer.encode(prompt, self.defaults.t5_length)?;
            truncations.extend(clip_tokens.truncation.clone());
            truncations.extend(t5_tokens.truncation.clone());
            let row = |ids: &[u32]| Tensor::from_slice(ids, (1, ids.len()), cpu);
            Ok(Text {
                states: self.t5.states(&row(&t5_tokens.ids)?)?,
                pooled: self.clip.pooled(&row(&clip_tokens.ids)?)?,
            })
        };
        let prompt = encode(&request.prompt)?;
        let unconditional = match cfg_scale {
            Some(_) => Some(encode("")?),
            None => None,
        };

        let scale = self.configs.autoencoder.pixels_per_latent();
        let (latent_h, latent_w) = (request.height / scale, request.width / scale);
        let z = self.configs.autoencoder.z_channels;
        let noise = sculpt_gpu::kernels::noise::gaussian_cpu(request.seed, z * latent_h * latent_w);
        let noise = Tensor::from_vec(noise, (1, z, latent_h, latent_w), cpu)?;
        // candle's packing (2×2 patches, feature c·4 + ph·2 + pw) and
        // position ids are Sculpt's.
        let state = flux::sampling::State::new(&prompt.states, &prompt.pooled, &noise)?;
        let image_tokens = (latent_h / 2) * (latent_w / 2);
        let schedule = timesteps(request.steps, self.defaults.schedule_shift, image_tokens);
        let (latent, first) = match &request.init_image {
            None => (state.img.clone(), 0),
            Some(image) => {
                let clean = self.encode_image(image)?;
                let clean = flux::sampling::State::new(&prompt.states, &prompt.pooled, &clean)?.img;
                let first = image_to_image_start(&schedule, f64::from(image.strength));
                let t = schedule[first];
                (((clean * (1.0 - t))? + (&state.img * t)?)?, first)
            }
        };
        let guidance = self
            .configs
            .transformer
            .guidance_embed
            .then(|| request.guidance.unwrap_or(DEFAULT_GUIDANCE));
        Ok(CpuGeneration::new(
            &self.resident,
            prompt,
            unconditional,
            state,
            guidance,
            cfg_scale,
            schedule,
            first,
            latent,
            truncations,
            (request.width, request.height),
        )?)
    }

    /// Runs a whole generation, calling `on_step` after every step, and
    /// returns the image.
    pub fn generate(
        &mut self,
        request: &GenerateRequest,
        mut on_step: impl FnMut(&CpuGeneration<'_>, &StepInfo) -> Result<(), PipelineError>,
    ) -> Result<Frame, PipelineError> {
        let mut generation = self.start(request)?;
        while let Some(step) = generation.step()? {
            on_step(&generation, &step)?;
        }
        generation.finish()
    }

    /// The start image's clean latent [1, z, h/8, w/8]: the encoder's mean
    /// (candle's `AutoEncoder::encode` would sample around it), shifted and
    /// scaled as the GPU pipeline does.
    fn encode_image(&self, image: &InitImage) -> Result<Tensor, PipelineError> {
        let pixels = image.width * image.height;
        let mut planes = vec![0f32; 3 * pixels];
        for (index, pixel) in image.rgba.chunks_exact(4).enumerate() {
            for channel in 0..3 {
                planes[channel * pixels + index] = f32::from(pixel[channel]) / 127.5 - 1.0;
            }
        }
        let planes = Tensor::from_vec(planes, (1, 3, image.height, image.width), &Device::Cpu)?;
        let moments = self.encoder.forward(&planes)?;
        let z = self.configs.autoencoder.z_channels;
        let a = &self.resident.autoencoder;
        Ok(((moments.narrow(1, 0, z)? - a.shift_factor)? * a.scale_factor)?)
    }
}
