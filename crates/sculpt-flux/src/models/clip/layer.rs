//! One encoder layer: pre-norm causal self-attention and a pre-norm
//! QuickGELU MLP, each added to the residual stream.

use sculpt_gpu::{
    Gpu, Tensor,
    kernels::{
        attention::{AttentionOptions, HeadView, attention},
        elementwise::{Binary, Unary, binary, unary},
    },
};

use crate::weights::{Linear, Loader};

use super::{ClipError, ClipTextConfig, layer_norm::LayerNorm};

pub(crate) struct EncoderLayer {
    layer_norm1: LayerNorm,
    /// q, k and v stay three linears, as the file stores them, rather than
    /// one packed [3 · width, width] weight: packing would mean joining
    /// weights on the CPU, which a weight already repacked for the GPU
    /// (f16, GGUF blocks) cannot be without a format-aware concatenation,
    /// and at 77 tokens two extra dispatches per layer cost nothing
    /// measurable. Attention reads each projection where it lies.
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    out_proj: Linear,
    layer_norm2: LayerNorm,
    fc1: Linear,
    fc2: Linear,
}

impl EncoderLayer {
    /// The tensors under `text_model.encoder.layers.{index}`.
    pub async fn load(
        loader: &mut Loader<'_>,
        index: usize,
        config: &ClipTextConfig,
    ) -> Result<Self, ClipError> {
        let name = format!("text_model.encoder.layers.{index}");
        let (width, mlp) = (config.hidden_size, config.intermediate_size);
        let attention = |projection: &str| format!("{name}.self_attn.{projection}");
        Ok(Self {
            layer_norm1: LayerNorm::load(loader, &format!("{name}.layer_norm1"), width).await?,
            q_proj: loader
                .linear(&attention("q_proj"), width, width, true)
                .await?,
            k_proj: loader
                .linear(&attention("k_proj"), width, width, true)
                .await?,
            v_proj: loader
                .linear(&attention("v_proj"), width, width, true)
                .await?,
            out_proj: loader
                .linear(&attention("out_proj"), width, width, true)
                .await?,
            layer_norm2: LayerNorm::load(loader, &format!("{name}.layer_norm2"), width).await?,
            fc1: loader
                .linear(&format!("{name}.mlp.fc1"), width, mlp, true)
                .await?,
            fc2: loader
                .linear(&format!("{name}.mlp.fc2"), mlp, width, true)
                .await?,
        })
    }

    /// `x` [tokens, width] → [tokens, width].
    pub fn forward(
        &self,
        gpu: &Gpu,
        config: &ClipTextConfig,
        x: &Tensor,
    ) -> Result<Tensor, ClipError> {
        let attended = self.self_attention(gpu, config, &self.layer_norm1.forward(gpu, x)?)?;
        let x = binary(gpu, Binary::Add, x, &attended)?;
        let expanded = self.fc1.forward(gpu, &self.layer_norm2.forward(gpu, &x)?)?;
        let mlp = self
            .fc2
            .forward(gpu, &unary(gpu, Unary::QuickGelu, &expanded)?)?;
        Ok(binary(gpu, Binary::Add, &x, &mlp)?)
    }

    /// Each token attends to itself and the tokens before it: CLIP was
    /// trained that way, so the states before the end-of-text token never
    /// see the padding after it.
    fn self_attention(
        &self,
        gpu: &Gpu,
        config: &ClipTextConfig,
        x: &Tensor,
    ) -> Result<Tensor, ClipError> {
        let heads = config.num_heads;
        let head_dim = config.head_dim();
        let q = self.q_proj.forward(gpu, x)?;
        let k = self.k_proj.forward(gpu, x)?;
        let v = self.v_proj.forward(gpu, x)?;
        let attended = attention(
            gpu,
            HeadView::tokens_first(&q, heads)?,
            HeadView::tokens_first(&k, heads)?,
            HeadView::tokens_first(&v, heads)?,
            heads,
            head_dim,
            1.0 / (head_dim as f32).sqrt(),
            AttentionOptions {
                causal: true,
                ..AttentionOptions::default()
            },
        )?;
        Ok(self.out_proj.forward(gpu, &attended)?)
    }
}
