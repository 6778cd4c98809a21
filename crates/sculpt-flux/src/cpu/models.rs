//! candle-transformers' models built from Sculpt's configurations: the
//! mapping from the manifest's fields to candle's, and what FLUX fixes that
//! the manifest does not say (QuickGELU in CLIP, T5 v1.1's gated GELU).

use candle_core::{Module, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::{clip::text_model as clip, flux, t5};

use crate::clip::ClipTextConfig;
use crate::flux::FluxConfig;
use crate::flux::autoencoder::AutoEncoderConfig;
use crate::t5::T5Config;

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

/// CLIP-L's text model: the pooled state at the first end of text.
pub(super) struct Clip(clip::ClipTextTransformer);

impl Clip {
    pub fn new(config: &ClipTextConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        clip::ClipTextTransformer::new(vb.pp("text_model"), &clip_config(config)).map(Self)
    }

    /// `ids` [1, tokens] → [1, hidden].
    pub fn pooled(&self, ids: &Tensor) -> candle_core::Result<Tensor> {
        self.0.forward(ids)
    }
}

/// The T5 v1.1 encoder.
pub(super) struct T5(t5::T5EncoderModel);

impl T5 {
    pub fn new(config: &T5Config, vb: VarBuilder) -> candle_core::Result<Self> {
        t5::T5EncoderModel::load(vb, &t5_config(config)).map(Self)
    }

    /// `ids` [1, tokens] → [1, tokens, d_model]. candle's encoder keeps a
    /// cache of its position bias, hence `&mut`.
    pub fn states(&mut self, ids: &Tensor) -> candle_core::Result<Tensor> {
        self.0.forward(ids)
    }
}
