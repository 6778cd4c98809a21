//! The whole text model: embeddings, encoder layers, final LayerNorm and
//! the pooled end-of-text state.

use sculpt_gpu::{
    Gpu, Tensor,
    kernels::{
        elementwise::{Binary, binary},
        embed::EmbeddingTable,
    },
};

use super::{ClipError, ClipTextConfig, layer::EncoderLayer, layer_norm::LayerNorm};
use crate::weights::{Loader, WeightSource};

/// CLIP's text model on the GPU, for one prompt (batch 1).
pub struct ClipTextModel {
    config: ClipTextConfig,
    /// [vocab, width], in row chunks where one binding cannot hold it.
    token_embedding: EmbeddingTable,
    /// [max_positions, width]
    position_embedding: Tensor,
    layers: Vec<EncoderLayer>,
    final_layer_norm: LayerNorm,
}

impl ClipTextModel {
    /// Uploads the weights `config` calls for, by their Hugging Face names
    /// (`text_model.…`); a missing or mis-shaped tensor is an error that
    /// names it.
    pub async fn load(
        gpu: &Gpu,
        config: ClipTextConfig,
        source: &mut impl WeightSource,
    ) -> Result<Self, ClipError> {
        config.validate()?;
        let loader = &mut Loader::new(gpu, source, "CLIP");
        let width = config.hidden_size;
        let mut layers = Vec::with_capacity(config.num_layers);
        for index in 0..config.num_layers {
            layers.push(EncoderLayer::load(loader, index, &config).await?);
        }
        Ok(Self {
            token_embedding: loader
                .embedding_table(
                    &["text_model.embeddings.token_embedding.weight"],
                    config.vocab_size,
                    width,
                )
                .await?,
            position_embedding: loader
                .f32_tensor(
                    "text_model.embeddings.position_embedding.weight",
                    &[config.max_positions, width],
                )
                .await?,
            layers,
            final_layer_norm: LayerNorm::load(loader, "text_model.final_layer_norm", width).await?,
            config,
        })
    }

    pub fn config(&self) -> &ClipTextConfig {
        &self.config
    }

    /// The text states [ids, width] after the final LayerNorm, and the
    /// pooled vector [width]: the state at the first position holding the
    /// largest id, which for CLIP's tokenizer is the end-of-text token.
    /// Records GPU work only: nothing is read back.
    pub fn forward(&self, gpu: &Gpu, ids: &[u32]) -> Result<(Tensor, Tensor), ClipError> {
        let pooled_index = self.check(ids)?;
        let tokens = self.token_embedding.gather(gpu, ids)?;
        let positions = self.position_embedding.narrow(0, ids.len())?;
        let mut x = binary(gpu, Binary::Add, &tokens, &positions)?;
        for layer in &self.layers {
            x = layer.forward(gpu, &self.config, &x)?;
        }
        let hidden = self.final_layer_norm.forward(gpu, &x)?;
        let pooled = hidden
            .narrow(pooled_index, 1)?
            .reshape(&[self.config.hidden_size])?;
        Ok((hidden, pooled))
    }

    /// Refuses ids the model cannot take; returns the pooled position.
    fn check(&self, ids: &[u32]) -> Result<usize, ClipError> {
        let config = &self.config;
        if ids.is_empty() {
            return Err(ClipError::Input("there are no token ids".into()));
        }
        if ids.len() > config.max_positions {
            return Err(ClipError::Input(format!(
                "{} token ids exceed the model's {} positions",
                ids.len(),
                config.max_positions
            )));
        }
        if let Some(id) = ids.iter().find(|&&id| id as usize >= config.vocab_size) {
            return Err(ClipError::Input(format!(
                "token id {id} is outside the vocabulary of {}",
                config.vocab_size
            )));
        }
        Ok(first_max_index(ids))
    }
}

/// The first position of the largest id (as PyTorch's and candle's argmax
/// pick it on ties).
fn first_max_index(ids: &[u32]) -> usize {
    let max = ids.iter().copied().max().unwrap_or(0);
    ids.iter().position(|&id| id == max).unwrap_or(0)
}
