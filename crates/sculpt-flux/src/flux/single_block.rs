//! The single-stream block over the joined sequence [text; image]: one
//! linear gives queries, keys, values and the MLP's input side by side, and
//! one linear takes the attention output and the MLP's activations back to
//! the hidden width, so attention and MLP run in parallel.

use sculpt_gpu::{
    Gpu, Tensor,
    kernels::{
        elementwise::{Unary, unary},
        layout::concat,
    },
};

use crate::weights::{Linear, Loader};

use super::{
    FluxConfig, FluxError, Positions,
    layers::{Heads, Modulation, QkNorm, plain_layer_norm, rotary_attention},
};

/// `single_blocks.N`.
pub(crate) struct SingleStreamBlock {
    /// One triple.
    modulation: Modulation<1>,
    /// hidden → [q | k | v | mlp].
    linear1: Linear,
    norm: QkNorm,
    /// [attention | gelu(mlp)] → hidden.
    linear2: Linear,
}

impl SingleStreamBlock {
    pub async fn load(
        loader: &mut Loader<'_>,
        index: usize,
        config: &FluxConfig,
    ) -> Result<Self, FluxError> {
        let name = format!("single_blocks.{index}");
        let (hidden, mlp) = (config.hidden_size, config.mlp_hidden());
        Ok(Self {
            modulation: Modulation::load(loader, &format!("{name}.modulation"), hidden).await?,
            linear1: loader
                .linear(&format!("{name}.linear1"), hidden, 3 * hidden + mlp, true)
                .await?,
            norm: QkNorm::load(loader, &format!("{name}.norm"), config.head_dim()).await?,
            linear2: loader
                .linear(&format!("{name}.linear2"), hidden + mlp, hidden, true)
                .await?,
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
        let projection = self.linear1.forward(gpu, &modulated)?;
        let (heads, mlp_in) = Heads::from_projection(gpu, config, &projection, &self.norm)?;
        let attention = rotary_attention(gpu, config, &heads, &positions.table)?;
        let mlp_in = mlp_in.expect("linear1 is loaded with the MLP's columns after q, k and v");
        let mlp = unary(gpu, Unary::GeluTanh, &mlp_in)?;
        let output = self
            .linear2
            .forward(gpu, &concat(gpu, &[&attention, &mlp], 1)?)?;
        modulation.gated_residual(gpu, x, &output)
    }
}
