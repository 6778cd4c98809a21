//! One encoder block: RMS-normed self-attention with the shared relative
//! position bias, then an RMS-normed gated-GELU feed-forward, each added to
//! the residual stream.

use sculpt_gpu::{
    Gpu, Tensor,
    kernels::{
        attention::{AttentionOptions, HeadView, attention},
        elementwise::{Binary, binary},
        linear::{LinearWeight, linear},
        norm::rms_norm,
    },
};

use super::{LAYER_NORM_EPS, T5Config, T5Error};
use crate::weights::Loader;

/// T5 folds the 1/√d_kv of scaled dot-product attention into the query
/// projection's initialization, so the scores are used unscaled.
const SCORE_SCALE: f32 = 1.0;

pub(crate) struct T5Block {
    attention_norm: Tensor,
    query: LinearWeight,
    key: LinearWeight,
    value: LinearWeight,
    output: LinearWeight,
    feed_forward_norm: Tensor,
    /// The two input projections of the gated feed-forward: GELU'd gate, and linear.
    gate: LinearWeight,
    up: LinearWeight,
    down: LinearWeight,
}

impl T5Block {
    pub async fn load(
        loader: &mut Loader<'_>,
        index: usize,
        config: &T5Config,
    ) -> Result<Self, T5Error> {
        let (d_model, inner, d_ff) = (config.d_model, config.inner_dim(), config.d_ff);
        let attention = format!("encoder.block.{index}.layer.0");
        let feed_forward = format!("encoder.block.{index}.layer.1");
        let projection = |name: &str| format!("{attention}.SelfAttention.{name}");
        let dense = |name: &str| format!("{feed_forward}.DenseReluDense.{name}");
        Ok(Self {
            attention_norm: loader
                .f32_tensor(&format!("{attention}.layer_norm.weight"), &[d_model])
                .await?,
            query: loader
                .linear_weight(&projection("q.weight"), d_model, inner)
                .await?,
            key: loader
                .linear_weight(&projection("k.weight"), d_model, inner)
                .await?,
            value: loader
                .linear_weight(&projection("v.weight"), d_model, inner)
                .await?,
            output: loader
                .linear_weight(&projection("o.weight"), inner, d_model)
                .await?,
            feed_forward_norm: loader
                .f32_tensor(&format!("{feed_forward}.layer_norm.weight"), &[d_model])
                .await?,
            gate: loader
                .linear_weight(&dense("wi_0.weight"), d_model, d_ff)
                .await?,
            up: loader
                .linear_weight(&dense("wi_1.weight"), d_model, d_ff)
                .await?,
            down: loader
                .linear_weight(&dense("wo.weight"), d_ff, d_model)
                .await?,
        })
    }

    /// `x` [tokens, d_model] → [tokens, d_model]; `position_bias` [heads,
    /// 2·tokens − 1].
    pub fn forward(
        &self,
        gpu: &Gpu,
        config: &T5Config,
        x: &Tensor,
        position_bias: &Tensor,
    ) -> Result<Tensor, T5Error> {
        let normed = rms_norm(gpu, x, &self.attention_norm, LAYER_NORM_EPS)?;
        let q = linear(gpu, &normed, &self.query, None)?;
        let k = linear(gpu, &normed, &self.key, None)?;
        let v = linear(gpu, &normed, &self.value, None)?;
        let heads = config.num_heads;
        let attended = attention(
            gpu,
            HeadView::tokens_first(&q, heads)?,
            HeadView::tokens_first(&k, heads)?,
            HeadView::tokens_first(&v, heads)?,
            heads,
            config.d_kv,
            SCORE_SCALE,
            AttentionOptions {
                causal: false,
                relative_bias: Some(position_bias),
            },
        )?;
        let attention_out = linear(gpu, &attended, &self.output, None)?;
        let x = binary(gpu, Binary::Add, x, &attention_out)?;

        let normed = rms_norm(gpu, &x, &self.feed_forward_norm, LAYER_NORM_EPS)?;
        let gated = binary(
            gpu,
            Binary::GeluGate,
            &linear(gpu, &normed, &self.gate, None)?,
            &linear(gpu, &normed, &self.up, None)?,
        )?;
        let feed_forward_out = linear(gpu, &gated, &self.down, None)?;
        Ok(binary(gpu, Binary::Add, &x, &feed_forward_out)?)
    }
}
