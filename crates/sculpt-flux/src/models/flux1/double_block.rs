//! The double-stream block: text and image tokens keep their own weights
//! (modulation, projections, QK-norm, MLP) but attend jointly, over the
//! sequence [text; image].

use sculpt_gpu::{Gpu, Tensor, kernels::layout::concat};

use crate::weights::{Linear, Loader};

use super::{
    FluxConfig, FluxError, Positions,
    layers::{
        Heads, Mlp, Modulation, ModulationOut, QkNorm, load_qkv, plain_layer_norm, rotary_attention,
    },
};

/// One stream's weights, stored under `{block}.{stream}_mod`,
/// `{block}.{stream}_attn` and `{block}.{stream}_mlp` (stream `img` or `txt`).
struct Stream {
    /// Two triples: one around attention, one around the MLP.
    modulation: Modulation<2>,
    /// `{name}_attn.qkv`, loaded as q, k and v.
    qkv: [Linear; 3],
    norm: QkNorm,
    proj: Linear,
    mlp: Mlp,
}

impl Stream {
    async fn load(
        loader: &mut Loader<'_>,
        name: &str,
        config: &FluxConfig,
    ) -> Result<Self, FluxError> {
        let hidden = config.hidden_size;
        Ok(Self {
            modulation: Modulation::load(loader, &format!("{name}_mod"), hidden).await?,
            qkv: load_qkv(loader, &format!("{name}_attn.qkv"), config, config.qkv_bias).await?,
            norm: QkNorm::load(loader, &format!("{name}_attn.norm"), config.head_dim()).await?,
            proj: loader
                .linear(&format!("{name}_attn.proj"), hidden, hidden, true)
                .await?,
            mlp: Mlp::load(loader, &format!("{name}_mlp"), config).await?,
        })
    }

    /// The stream's queries, keys and values, before the joint attention.
    fn heads(
        &self,
        gpu: &Gpu,
        config: &FluxConfig,
        x: &Tensor,
        attention_mod: &ModulationOut,
    ) -> Result<Heads, FluxError> {
        let modulated = attention_mod.modulate(gpu, &plain_layer_norm(gpu, x)?)?;
        Heads::project(gpu, config, &modulated, &self.qkv, &self.norm)
    }

    /// The residual updates after attention: the projected attention output,
    /// then the MLP, each gated in.
    fn finish(
        &self,
        gpu: &Gpu,
        x: &Tensor,
        attention_out: &Tensor,
        [attention_mod, mlp_mod]: &[ModulationOut; 2],
    ) -> Result<Tensor, FluxError> {
        let x = attention_mod.gated_residual(gpu, x, &self.proj.forward(gpu, attention_out)?)?;
        let mlp_in = mlp_mod.modulate(gpu, &plain_layer_norm(gpu, &x)?)?;
        mlp_mod.gated_residual(gpu, &x, &self.mlp.forward(gpu, &mlp_in)?)
    }
}

/// `double_blocks.N`.
pub(crate) struct DoubleStreamBlock {
    img: Stream,
    txt: Stream,
}

impl DoubleStreamBlock {
    pub async fn load(
        loader: &mut Loader<'_>,
        index: usize,
        config: &FluxConfig,
    ) -> Result<Self, FluxError> {
        let name = format!("double_blocks.{index}");
        Ok(Self {
            img: Stream::load(loader, &format!("{name}.img"), config).await?,
            txt: Stream::load(loader, &format!("{name}.txt"), config).await?,
        })
    }

    /// Updates `img` [image tokens, hidden] and `txt` [text tokens, hidden].
    pub fn forward(
        &self,
        gpu: &Gpu,
        config: &FluxConfig,
        img: &Tensor,
        txt: &Tensor,
        silu_vec: &Tensor,
        positions: &Positions,
    ) -> Result<(Tensor, Tensor), FluxError> {
        let img_mods = self.img.modulation.forward(gpu, silu_vec)?;
        let txt_mods = self.txt.modulation.forward(gpu, silu_vec)?;
        let img_heads = self.img.heads(gpu, config, img, &img_mods[0])?;
        let txt_heads = self.txt.heads(gpu, config, txt, &txt_mods[0])?;
        let joint = Heads {
            q: concat(gpu, &[&txt_heads.q, &img_heads.q], 0)?,
            k: concat(gpu, &[&txt_heads.k, &img_heads.k], 0)?,
            v: concat(gpu, &[&txt_heads.v, &img_heads.v], 0)?,
        };
        let attention = rotary_attention(gpu, config, &joint, &positions.table)?;
        let (text_tokens, image_tokens) = (positions.text_tokens, positions.image_tokens);
        let txt_attention = attention.narrow(0, text_tokens)?;
        let img_attention = attention.narrow(text_tokens, image_tokens)?;
        Ok((
            self.img.finish(gpu, img, &img_attention, &img_mods)?,
            self.txt.finish(gpu, txt, &txt_attention, &txt_mods)?,
        ))
    }
}
