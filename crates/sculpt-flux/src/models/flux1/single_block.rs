//! The single-stream block over the joined sequence [text; image]: one
//! linear gives queries, keys, values and the MLP's input side by side, and
//! one linear takes the attention output and the MLP's activations back to
//! the hidden width, so attention and MLP run in parallel.
//!
//! Both linears are loaded in parts: `linear1` as q, k, v and the MLP's
//! input, `linear2` by its input columns as one layer over the attention
//! output and one over the MLP's activations, whose outputs add up to its
//! output. The MLP then runs in token chunks like the double blocks' (see
//! `token_chunks`), and neither linear needs an activation wider than the
//! hidden width over all tokens.

use sculpt_gpu::{
    Gpu, Tensor,
    kernels::elementwise::{Binary, Unary, binary, unary},
};

use crate::weights::{Linear, Loader};

use super::{
    FluxConfig, FluxError, Positions,
    layers::{Heads, Modulation, QkNorm, plain_layer_norm, rotary_attention},
    token_chunks::by_token_chunks,
};

/// `single_blocks.N`.
pub(crate) struct SingleStreamBlock {
    /// One triple.
    modulation: Modulation<1>,
    /// `linear1`'s first 3 · hidden outputs: hidden → q, k, v.
    qkv: [Linear; 3],
    /// `linear1`'s last mlp_hidden outputs: hidden → the MLP's input.
    mlp_in: Linear,
    norm: QkNorm,
    /// `linear2`'s first hidden inputs (with its bias): attention → hidden.
    attention_out: Linear,
    /// `linear2`'s last mlp_hidden inputs: GELU(MLP) → hidden.
    mlp_out: Linear,
}

impl SingleStreamBlock {
    pub async fn load(
        loader: &mut Loader<'_>,
        index: usize,
        config: &FluxConfig,
    ) -> Result<Self, FluxError> {
        let name = format!("single_blocks.{index}");
        let (hidden, mlp) = (config.hidden_size, config.mlp_hidden());
        let modulation = Modulation::load(loader, &format!("{name}.modulation"), hidden).await?;
        let [q, k, v, mlp_in] = loader
            .linear_split_outputs(
                &format!("{name}.linear1"),
                hidden,
                &[hidden, hidden, hidden, mlp],
                true,
            )
            .await?
            .try_into()
            .ok()
            .expect("four parts");
        let norm = QkNorm::load(loader, &format!("{name}.norm"), config.head_dim()).await?;
        let [attention_out, mlp_out] = loader
            .linear_split_inputs(&format!("{name}.linear2"), &[hidden, mlp], hidden, true)
            .await?
            .try_into()
            .ok()
            .expect("two parts");
        Ok(Self {
            modulation,
            qkv: [q, k, v],
            mlp_in,
            norm,
            attention_out,
            mlp_out,
        })
    }

    /// Updates `x` [text + image tokens, hidden].
    pub fn forward(
        &self,
        gpu: &Gpu,
        config: &FluxConfig,
        x: &Tensor,
        silu_vec: &Tensor,
        positions: &Positions,
    ) -> Result<Tensor, FluxError> {
        let [modulation] = self.modulation.forward(gpu, silu_vec)?;
        let modulated = modulation.modulate(gpu, &plain_layer_norm(gpu, x)?)?;
        let heads = Heads::project(gpu, config, &modulated, &self.qkv, &self.norm)?;
        let attention = rotary_attention(gpu, config, &heads, &positions.table)?;
        let mlp = by_token_chunks(gpu, &modulated, config.mlp_hidden(), |x| {
            let activations = unary(gpu, Unary::GeluTanh, &self.mlp_in.forward(gpu, x)?)?;
            Ok(self.mlp_out.forward(gpu, &activations)?)
        })?;
        let attention = self.attention_out.forward(gpu, &attention)?;
        let output = binary(gpu, Binary::Add, &attention, &mlp)?;
        modulation.gated_residual(gpu, x, &output)
    }
}
