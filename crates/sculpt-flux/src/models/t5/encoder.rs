//! The whole encoder: token embedding, the blocks, the final RMS norm.

use std::cell::RefCell;

use sculpt_gpu::{
    Gpu, Tensor,
    kernels::{embed::EmbeddingTable, norm::rms_norm},
};

use crate::weights::Loader;

use super::{
    LAYER_NORM_EPS, T5Config, T5Error, WeightSource, block::T5Block, position_bias::PositionBias,
};

/// Where checkpoints keep the token embedding: the encoder–decoder's shared
/// table, or the encoder-only export's own (FLUX's `text_encoder_2` has the
/// shared one).
const EMBEDDING_NAMES: [&str; 2] = ["shared.weight", "encoder.embed_tokens.weight"];
/// Only block 0 has relative-position weights; every block adds the bias
/// they make.
const BUCKET_WEIGHTS_NAME: &str =
    "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight";

/// T5 v1.1's encoder on the GPU, for one sequence (batch 1) and without an
/// attention mask: FLUX encodes the prompt padded to a fixed length and lets
/// every token, padding included, attend to every other, as BFL's reference
/// (`HFEmbedder` calls the encoder with `attention_mask=None`), diffusers'
/// `FluxPipeline` and candle's FLUX example do. Masking the padding would
/// change the text tokens FLUX was trained on.
pub struct T5Encoder {
    config: T5Config,
    /// [vocab, d_model] in f32: the embedding kernel reads f32 only. At
    /// T5-XXL's size that is 526 MB, kept in row chunks that each fit one
    /// storage binding; a packed (bf16, GGUF) table is refused by name.
    embedding: EmbeddingTable,
    /// Block 0's learned bias per bucket and head, [buckets, heads], kept on
    /// the CPU: each sequence length needs its own gathering of it.
    bucket_weights: Vec<f32>,
    blocks: Vec<T5Block>,
    final_norm: Tensor,
    /// The bias table of the last sequence length: FLUX encodes every prompt
    /// at the same length, so it is gathered and uploaded once.
    position_bias: RefCell<Option<PositionBias>>,
}

impl T5Encoder {
    /// Uploads the weights `config` calls for, by their Hugging Face names;
    /// a missing or mis-shaped tensor is an error that names it.
    pub async fn load(
        gpu: &Gpu,
        config: T5Config,
        source: &mut impl WeightSource,
    ) -> Result<Self, T5Error> {
        config.validate()?;
        let loader = &mut Loader::new(gpu, source, "T5");
        let d_model = config.d_model;
        let embedding = loader
            .embedding_table(&EMBEDDING_NAMES, config.vocab_size, d_model)
            .await?;
        let bucket_weights = loader
            .f32_values(
                BUCKET_WEIGHTS_NAME,
                &[config.relative_attention_num_buckets, config.num_heads],
            )
            .await?;
        let mut blocks = Vec::with_capacity(config.num_layers);
        for index in 0..config.num_layers {
            blocks.push(T5Block::load(loader, index, &config).await?);
        }
        Ok(Self {
            embedding,
            bucket_weights,
            blocks,
            final_norm: loader
                .f32_tensor("encoder.final_layer_norm.weight", &[d_model])
                .await?,
            position_bias: RefCell::new(None),
            config,
        })
    }

    pub fn config(&self) -> &T5Config {
        &self.config
    }

    /// The encoded sequence [ids.len(), d_model], after the final norm.
    /// Records GPU work only: nothing is read back.
    pub fn forward(&self, gpu: &Gpu, ids: &[u32]) -> Result<Tensor, T5Error> {
        if ids.is_empty() {
            return Err(T5Error::Input("there are no token ids".into()));
        }
        if let Some(id) = ids
            .iter()
            .find(|&&id| id as usize >= self.config.vocab_size)
        {
            return Err(T5Error::Input(format!(
                "token id {id} is outside the vocabulary of {}",
                self.config.vocab_size
            )));
        }
        let position_bias = self.position_bias(gpu, ids.len())?;
        let mut x = self.embedding.gather(gpu, ids)?;
        for block in &self.blocks {
            x = block.forward(gpu, &self.config, &x, &position_bias)?;
        }
        Ok(rms_norm(gpu, &x, &self.final_norm, LAYER_NORM_EPS)?)
    }

    /// The bias table for `tokens`, from the cache when the last sequence
    /// had as many.
    fn position_bias(&self, gpu: &Gpu, tokens: usize) -> Result<Tensor, T5Error> {
        let mut cached = self.position_bias.borrow_mut();
        match &*cached {
            Some(bias) if bias.tokens == tokens => Ok(bias.table.clone()),
            _ => {
                let bias = PositionBias::new(gpu, &self.config, &self.bucket_weights, tokens)?;
                let table = bias.table.clone();
                *cached = Some(bias);
                Ok(table)
            }
        }
    }
}
