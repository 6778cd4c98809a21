//! candle-transformers' models built from Sculpt's configurations: the
//! mapping from the manifest's fields to candle's, and what FLUX fixes that
//! the manifest does not say (QuickGELU in CLIP, T5 v1.1's gated GELU).

use candle_core::{Module, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::{clip::text_model as clip, flux, t5};

use crate::checkpoint::ModelConfig;
use crate::family::TextOutput;
use crate::models::autoencoder::AutoEncoderConfig;
use crate::models::clip::ClipTextConfig;
use crate::models::flux1::FluxConfig;
use crate::models::t5::T5Config;

pub(super) fn flux_config(c: &FluxConfig) -> flux::model::Config {
    flux::model::Config {
        in_channels: c.in_channels,
        vec_in_dim: c.vec_in_dim,
        context_in_dim: c.context_in_dim,
        hidden_size: c.hidden_size,
        mlp_ratio: c.mlp_ratio,
        num_heads: c.num_heads,
        depth: c.double_blocks,
        depth_single_blocks: c.single_blocks,
        axes_dim: c.axes_dim.clone(),
        theta: c.theta as usize,
        qkv_bias: c.qkv_bias,
        guidance_embed: c.guidance_embed,
    }
}

pub(super) fn autoencoder_config(c: &AutoEncoderConfig) -> flux::autoencoder::Config {
    flux::autoencoder::Config {
        // Unused by the encoder and decoder (they take any size).
        resolution: 256,
        in_channels: c.in_channels,
        ch: c.ch,
        out_ch: c.out_channels,
        ch_mult: c.ch_mult.clone(),
        num_res_blocks: c.num_res_blocks,
        z_channels: c.z_channels,
        scale_factor: f64::from(c.scale_factor),
        shift_factor: f64::from(c.shift_factor),
    }
}

fn clip_config(c: &ClipTextConfig) -> clip::ClipTextConfig {
    clip::ClipTextConfig {
        vocab_size: c.vocab_size,
        embed_dim: c.hidden_size,
        activation: clip::Activation::QuickGelu,
        intermediate_size: c.intermediate_size,
        max_position_embeddings: c.max_positions,
        pad_with: None,
        num_hidden_layers: c.num_layers,
        num_attention_heads: c.num_heads,
        // FLUX reads the pooled state without the projection.
        projection_dim: c.hidden_size,
    }
}

fn t5_config(c: &T5Config) -> t5::Config {
    t5::Config {
        vocab_size: c.vocab_size,
        d_model: c.d_model,
        d_kv: c.d_kv,
        d_ff: c.d_ff,
        num_layers: c.num_layers,
        num_heads: c.num_heads,
        relative_attention_num_buckets: c.relative_attention_num_buckets,
        relative_attention_max_distance: c.relative_attention_max_distance,
        layer_norm_epsilon: 1e-6,
        feed_forward_proj: t5::ActivationWithOptionalGating {
            gated: true,
            activation: candle_nn::Activation::NewGelu,
        },
        tie_word_embeddings: false,
        use_cache: false,
        ..t5::Config::default()
    }
}

/// A text encoder of any kind the families use, on the CPU.
pub(super) enum CpuTextEncoder {
    /// CLIP-L's text model.
    Clip(clip::ClipTextTransformer),
    /// The T5 v1.1 encoder. candle's keeps a cache of its position bias,
    /// hence `&mut` to run it.
    T5(t5::T5EncoderModel),
}

impl CpuTextEncoder {
    pub fn new(config: &ModelConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        Ok(match config {
            ModelConfig::Clip(config) => Self::Clip(clip::ClipTextTransformer::new(
                vb.pp("text_model"),
                &clip_config(config),
            )?),
            ModelConfig::T5(config) => Self::T5(t5::T5EncoderModel::load(vb, &t5_config(config))?),
            ModelConfig::Transformer(_) | ModelConfig::Autoencoder(_) => {
                unreachable!("families validate that text encoders are text models")
            }
        })
    }

    /// `ids` [1, tokens] → the pooled vector [1, width] (CLIP's state at
    /// the first end of text) or the states [1, tokens, width].
    pub fn output(&mut self, ids: &Tensor, output: TextOutput) -> candle_core::Result<Tensor> {
        match (self, output) {
            (Self::Clip(clip), TextOutput::Pooled) => clip.forward(ids),
            (Self::Clip(clip), TextOutput::States) => clip.forward_with_mask(ids, usize::MAX),
            (Self::T5(t5), TextOutput::States) => t5.forward(ids),
            (Self::T5(_), TextOutput::Pooled) => {
                unreachable!("families validate that T5 gives states only")
            }
        }
    }
}
