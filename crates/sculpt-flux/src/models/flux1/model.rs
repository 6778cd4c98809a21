//! The whole transformer: input projections, the conditioning vector,
//! double blocks, single blocks, final layer.

use sculpt_gpu::{
    Gpu, Tensor,
    kernels::{
        elementwise::{Binary, Unary, binary, unary},
        embed::{FLUX_TIME_FACTOR, timestep_embedding},
        layout::concat,
    },
};

use crate::weights::{Linear, Loader};

use super::{
    FluxConfig, FluxError, Positions, TIME_EMBEDDING_DIM, WeightSource,
    double_block::DoubleStreamBlock,
    layers::{FinalLayer, MlpEmbedder},
    single_block::SingleStreamBlock,
};

/// What one denoising step feeds the transformer, for one image (batch 1).
pub struct FluxInputs<'a> {
    /// Image tokens [image tokens, in_channels]: the 2×2-patched latent.
    pub img: &'a Tensor,
    /// Text tokens [text tokens, context_in_dim] (T5's output).
    pub txt: &'a Tensor,
    /// Where the text and image tokens are ([`FluxTransformer::positions`]).
    pub positions: &'a Positions,
    /// The timestep in [0, 1], 1 being pure noise.
    pub timestep: f32,
    /// The pooled text vector [vec_in_dim] or [1, vec_in_dim] (CLIP's).
    pub y: &'a Tensor,
    /// The guidance strength: required by guidance-distilled models (dev),
    /// ignored by the others (schnell has no input for it).
    pub guidance: Option<f32>,
}

/// FLUX.1's transformer on the GPU, for batch 1: one image, one prompt.
/// (The sampler runs guidance-distilled models without a second,
/// unconditional pass, so batch 1 is what a step needs.)
pub struct FluxTransformer {
    config: FluxConfig,
    img_in: Linear,
    txt_in: Linear,
    time_in: MlpEmbedder,
    vector_in: MlpEmbedder,
    guidance_in: Option<MlpEmbedder>,
    double_blocks: Vec<DoubleStreamBlock>,
    single_blocks: Vec<SingleStreamBlock>,
    final_layer: FinalLayer,
}

impl FluxTransformer {
    /// Uploads the weights `config` calls for, by their BFL names; a missing
    /// or mis-shaped tensor is an error that names it.
    pub async fn load(
        gpu: &Gpu,
        config: FluxConfig,
        source: &mut impl WeightSource,
    ) -> Result<Self, FluxError> {
        config.validate()?;
        let loader = &mut Loader::new(gpu, source, "FLUX");
        let hidden = config.hidden_size;
        let mut double_blocks = Vec::with_capacity(config.double_blocks);
        let mut single_blocks = Vec::with_capacity(config.single_blocks);
        let img_in = loader
            .linear("img_in", config.in_channels, hidden, true)
            .await?;
        let txt_in = loader
            .linear("txt_in", config.context_in_dim, hidden, true)
            .await?;
        let time_in = MlpEmbedder::load(loader, "time_in", TIME_EMBEDDING_DIM, hidden).await?;
        let vector_in = MlpEmbedder::load(loader, "vector_in", config.vec_in_dim, hidden).await?;
        let guidance_in = if config.guidance_embed {
            Some(MlpEmbedder::load(loader, "guidance_in", TIME_EMBEDDING_DIM, hidden).await?)
        } else {
            None
        };
        for index in 0..config.double_blocks {
            double_blocks.push(DoubleStreamBlock::load(loader, index, &config).await?);
        }
        for index in 0..config.single_blocks {
            single_blocks.push(SingleStreamBlock::load(loader, index, &config).await?);
        }
        Ok(Self {
            img_in,
            txt_in,
            time_in,
            vector_in,
            guidance_in,
            double_blocks,
            single_blocks,
            final_layer: FinalLayer::load(loader, &config).await?,
            config,
        })
    }

    pub fn config(&self) -> &FluxConfig {
        &self.config
    }

    /// The rotary table for text and image tokens with these ids
    /// ([`text_ids`](super::text_ids), [`image_ids`](super::image_ids)):
    /// built once per generation, used by every step.
    pub fn positions(
        &self,
        gpu: &Gpu,
        txt_ids: &[f32],
        img_ids: &[f32],
    ) -> Result<Positions, FluxError> {
        Positions::new(gpu, &self.config, txt_ids, img_ids)
    }

    /// The model's prediction for the image tokens, [image tokens,
    /// in_channels]. Records GPU work only: nothing is read back.
    pub fn forward(&self, gpu: &Gpu, inputs: &FluxInputs) -> Result<Tensor, FluxError> {
        self.check(inputs)?;
        let positions = inputs.positions;
        let silu_vec = unary(gpu, Unary::Silu, &self.conditioning(gpu, inputs)?)?;
        let mut img = self.img_in.forward(gpu, inputs.img)?;
        let mut txt = self.txt_in.forward(gpu, inputs.txt)?;
        for block in &self.double_blocks {
            (img, txt) = block.forward(gpu, &self.config, &img, &txt, &silu_vec, positions)?;
        }
        let mut joint = concat(gpu, &[&txt, &img], 0)?;
        for block in &self.single_blocks {
            joint = block.forward(gpu, &self.config, &joint, &silu_vec, positions)?;
        }
        let img = joint.narrow(positions.text_tokens, positions.image_tokens)?;
        self.final_layer.forward(gpu, &img, &silu_vec)
    }

    /// The vector every block is modulated by, [1, hidden]: embedded
    /// timestep (+ embedded guidance) + embedded pooled text.
    fn conditioning(&self, gpu: &Gpu, inputs: &FluxInputs) -> Result<Tensor, FluxError> {
        let times = match (&self.guidance_in, inputs.guidance) {
            (Some(_), Some(guidance)) => vec![inputs.timestep, guidance],
            (Some(_), None) => {
                return Err(FluxError::Input(
                    "this model is guidance-distilled (dev) and needs a guidance strength".into(),
                ));
            }
            (None, _) => vec![inputs.timestep],
        };
        // Timestep and guidance share one upload and one embedding dispatch.
        let times = Tensor::from_slice(gpu, &times, &[times.len()])?;
        let embedded = timestep_embedding(gpu, &times, TIME_EMBEDDING_DIM, FLUX_TIME_FACTOR)?;
        let mut vec = self.time_in.forward(gpu, &embedded.narrow(0, 1)?)?;
        if let Some(guidance_in) = &self.guidance_in {
            let guidance = guidance_in.forward(gpu, &embedded.narrow(1, 1)?)?;
            vec = binary(gpu, Binary::Add, &vec, &guidance)?;
        }
        let y = inputs.y.reshape(&[1, self.config.vec_in_dim])?;
        let pooled = self.vector_in.forward(gpu, &y)?;
        Ok(binary(gpu, Binary::Add, &vec, &pooled)?)
    }

    fn check(&self, inputs: &FluxInputs) -> Result<(), FluxError> {
        let config = &self.config;
        let positions = inputs.positions;
        let expect = |what: &str, tensor: &Tensor, shape: [usize; 2]| {
            if tensor.shape() == shape {
                Ok(())
            } else {
                Err(FluxError::Input(format!(
                    "{what} is {:?}, the model and the positions need {shape:?}",
                    tensor.shape()
                )))
            }
        };
        if positions.table.shape()[1] * 2 != config.head_dim() {
            return Err(FluxError::Input(
                "the positions were built for a model of another head dimension".into(),
            ));
        }
        if positions.text_tokens == 0 {
            return Err(FluxError::Input("there are no text tokens".into()));
        }
        expect(
            "img",
            inputs.img,
            [positions.image_tokens, config.in_channels],
        )?;
        expect(
            "txt",
            inputs.txt,
            [positions.text_tokens, config.context_in_dim],
        )?;
        if inputs.y.elem_count() != config.vec_in_dim {
            return Err(FluxError::Input(format!(
                "y is {:?}, the model needs {} values",
                inputs.y.shape(),
                config.vec_in_dim
            )));
        }
        Ok(())
    }
}
