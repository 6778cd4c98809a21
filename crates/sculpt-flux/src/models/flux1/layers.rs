//! The pieces the blocks are made of: the MLP embedders of the conditioning
//! inputs, adaLN modulation, QK-norm, rotary joint attention, the MLP and
//! the final layer.

use sculpt_gpu::{
    Gpu, Tensor,
    kernels::{
        attention::{AttentionOptions, HeadView, attention},
        elementwise::{Unary, gated_residual, modulate, unary},
        layout::split,
        norm::{layer_norm, rms_norm},
        rope::{RopeLayout, apply_rope},
    },
};

use crate::weights::{Linear, Loader};

use super::{FluxConfig, FluxError, NORM_EPS, token_chunks::by_token_chunks};

/// LayerNorm over the last axis without learned parameters.
pub(crate) fn plain_layer_norm(gpu: &Gpu, x: &Tensor) -> Result<Tensor, FluxError> {
    Ok(layer_norm(gpu, x, None, NORM_EPS)?)
}

/// Linear, SiLU, linear: how the timestep, guidance and pooled text vector
/// enter the hidden width.
pub(crate) struct MlpEmbedder {
    in_layer: Linear,
    out_layer: Linear,
}

impl MlpEmbedder {
    pub async fn load(
        loader: &mut Loader<'_>,
        name: &str,
        in_features: usize,
        hidden: usize,
    ) -> Result<Self, FluxError> {
        Ok(Self {
            in_layer: loader
                .linear(&format!("{name}.in_layer"), in_features, hidden, true)
                .await?,
            out_layer: loader
                .linear(&format!("{name}.out_layer"), hidden, hidden, true)
                .await?,
        })
    }

    pub fn forward(&self, gpu: &Gpu, x: &Tensor) -> Result<Tensor, FluxError> {
        let hidden = unary(gpu, Unary::Silu, &self.in_layer.forward(gpu, x)?)?;
        Ok(self.out_layer.forward(gpu, &hidden)?)
    }
}

/// One adaLN triple: normalized activations are scaled and shifted before a
/// sublayer, and the sublayer's output is gated into the residual stream.
pub(crate) struct ModulationOut {
    shift: Tensor,
    scale: Tensor,
    gate: Tensor,
}

impl ModulationOut {
    /// `x · (1 + scale) + shift`.
    pub fn modulate(&self, gpu: &Gpu, x: &Tensor) -> Result<Tensor, FluxError> {
        Ok(modulate(gpu, x, &self.shift, &self.scale)?)
    }

    /// `residual + gate · y`.
    pub fn gated_residual(
        &self,
        gpu: &Gpu,
        residual: &Tensor,
        y: &Tensor,
    ) -> Result<Tensor, FluxError> {
        Ok(gated_residual(gpu, residual, &self.gate, y)?)
    }
}

/// `lin` of SiLU(vec), cut into `TRIPLES` (shift, scale, gate) triples of
/// the hidden width: one per sublayer it modulates.
pub(crate) struct Modulation<const TRIPLES: usize> {
    lin: Linear,
}

impl<const TRIPLES: usize> Modulation<TRIPLES> {
    pub async fn load(
        loader: &mut Loader<'_>,
        name: &str,
        hidden: usize,
    ) -> Result<Self, FluxError> {
        Ok(Self {
            lin: loader
                .linear(&format!("{name}.lin"), hidden, 3 * TRIPLES * hidden, true)
                .await?,
        })
    }

    /// From SiLU(vec) [1, hidden], which every modulation shares.
    pub fn forward(
        &self,
        gpu: &Gpu,
        silu_vec: &Tensor,
    ) -> Result<[ModulationOut; TRIPLES], FluxError> {
        let chunks = chunks(gpu, &self.lin.forward(gpu, silu_vec)?, 3 * TRIPLES)?;
        Ok(std::array::from_fn(|triple| ModulationOut {
            shift: chunks[3 * triple].clone(),
            scale: chunks[3 * triple + 1].clone(),
            gate: chunks[3 * triple + 2].clone(),
        }))
    }
}

/// `count` equal pieces of the last axis of a single row [1, count · n]:
/// views, nothing is copied.
fn chunks(gpu: &Gpu, row: &Tensor, count: usize) -> Result<Vec<Tensor>, FluxError> {
    let width = row.last_dim() / count;
    Ok(split(gpu, row, 1, &vec![width; count])?)
}

/// RMSNorm of queries and keys per head, each with its learned scale.
pub(crate) struct QkNorm {
    query_scale: Tensor,
    key_scale: Tensor,
}

impl QkNorm {
    pub async fn load(
        loader: &mut Loader<'_>,
        name: &str,
        head_dim: usize,
    ) -> Result<Self, FluxError> {
        Ok(Self {
            query_scale: loader
                .vector(&format!("{name}.query_norm.scale"), head_dim)
                .await?,
            key_scale: loader
                .vector(&format!("{name}.key_norm.scale"), head_dim)
                .await?,
        })
    }

    /// q and k [tokens, heads, head_dim], normalized over head_dim.
    pub fn forward(
        &self,
        gpu: &Gpu,
        q: &Tensor,
        k: &Tensor,
    ) -> Result<(Tensor, Tensor), FluxError> {
        Ok((
            rms_norm(gpu, q, &self.query_scale, NORM_EPS)?,
            rms_norm(gpu, k, &self.key_scale, NORM_EPS)?,
        ))
    }
}

/// Queries, keys and values of one sequence, [tokens, heads, head_dim] each.
pub(crate) struct Heads {
    pub q: Tensor,
    pub k: Tensor,
    pub v: Tensor,
}

impl Heads {
    /// The three projections of `x` [tokens, hidden], q and k QK-normed.
    /// (Checkpoints store them as one `qkv` linear, or as the start of the
    /// single blocks' `linear1`; they are loaded as three, so that no
    /// activation three times the hidden width is needed.)
    pub fn project(
        gpu: &Gpu,
        config: &FluxConfig,
        x: &Tensor,
        [q, k, v]: &[Linear; 3],
        norm: &QkNorm,
    ) -> Result<Self, FluxError> {
        let tokens = x.shape()[0];
        let heads_shape = [tokens, config.num_heads, config.head_dim()];
        let (q, k) = norm.forward(
            gpu,
            &q.forward(gpu, x)?.reshape(&heads_shape)?,
            &k.forward(gpu, x)?.reshape(&heads_shape)?,
        )?;
        Ok(Self {
            q,
            k,
            v: v.forward(gpu, x)?.reshape(&heads_shape)?,
        })
    }
}

/// Loads linear `name` [3 · hidden, in] as the q, k and v projections.
pub(crate) async fn load_qkv(
    loader: &mut Loader<'_>,
    name: &str,
    config: &FluxConfig,
    bias: bool,
) -> Result<[Linear; 3], FluxError> {
    let hidden = config.hidden_size;
    let parts = loader
        .linear_split_outputs(name, hidden, &[hidden; 3], bias)
        .await?;
    Ok(parts.try_into().ok().expect("three parts"))
}

/// Attention of every token to every token, queries and keys rotated by
/// their positions (`rope_table` [tokens, head_dim / 2, 2]). Returns
/// [tokens, hidden], heads side by side.
pub(crate) fn rotary_attention(
    gpu: &Gpu,
    config: &FluxConfig,
    heads: &Heads,
    rope_table: &Tensor,
) -> Result<Tensor, FluxError> {
    let q = apply_rope(gpu, &heads.q, rope_table, RopeLayout::TokensHeadsDim)?;
    let k = apply_rope(gpu, &heads.k, rope_table, RopeLayout::TokensHeadsDim)?;
    let (count, head_dim) = (config.num_heads, config.head_dim());
    Ok(attention(
        gpu,
        HeadView::tokens_first(&q, count)?,
        HeadView::tokens_first(&k, count)?,
        HeadView::tokens_first(&heads.v, count)?,
        count,
        head_dim,
        1.0 / (head_dim as f32).sqrt(),
        AttentionOptions::default(),
    )?)
}

/// Linear, GELU (tanh), linear: the double blocks' feed-forward, stored as
/// `{name}.0` and `{name}.2` (PyTorch's Sequential indices).
pub(crate) struct Mlp {
    up: Linear,
    down: Linear,
}

impl Mlp {
    pub async fn load(
        loader: &mut Loader<'_>,
        name: &str,
        config: &FluxConfig,
    ) -> Result<Self, FluxError> {
        let (hidden, mlp) = (config.hidden_size, config.mlp_hidden());
        Ok(Self {
            up: loader
                .linear(&format!("{name}.0"), hidden, mlp, true)
                .await?,
            down: loader
                .linear(&format!("{name}.2"), mlp, hidden, true)
                .await?,
        })
    }

    /// In token chunks where the hidden activation outgrows a binding.
    pub fn forward(&self, gpu: &Gpu, x: &Tensor) -> Result<Tensor, FluxError> {
        let width = self.up.out_features();
        by_token_chunks(gpu, x, width, |x| {
            let hidden = unary(gpu, Unary::GeluTanh, &self.up.forward(gpu, x)?)?;
            Ok(self.down.forward(gpu, &hidden)?)
        })
    }
}

/// Modulated LayerNorm and a projection from the hidden width back to the
/// image tokens' features (patch 1×1: `in_channels` per token).
pub(crate) struct FinalLayer {
    /// Gives (shift, scale), stored as `adaLN_modulation.1` (index 0 is the SiLU).
    modulation: Linear,
    linear: Linear,
}

impl FinalLayer {
    pub async fn load(loader: &mut Loader<'_>, config: &FluxConfig) -> Result<Self, FluxError> {
        let hidden = config.hidden_size;
        Ok(Self {
            modulation: loader
                .linear("final_layer.adaLN_modulation.1", hidden, 2 * hidden, true)
                .await?,
            linear: loader
                .linear("final_layer.linear", hidden, config.in_channels, true)
                .await?,
        })
    }

    pub fn forward(&self, gpu: &Gpu, x: &Tensor, silu_vec: &Tensor) -> Result<Tensor, FluxError> {
        let shift_scale = chunks(gpu, &self.modulation.forward(gpu, silu_vec)?, 2)?;
        let normed = plain_layer_norm(gpu, x)?;
        let modulated = modulate(gpu, &normed, &shift_scale[0], &shift_scale[1])?;
        Ok(self.linear.forward(gpu, &modulated)?)
    }
}
