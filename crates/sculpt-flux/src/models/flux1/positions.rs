//! Token positions and the rotary table built from them.
//!
//! FLUX gives every token a position of three coordinates: text tokens are
//! all at (0, 0, 0), image token (row, col) of the 2×2-patched latent is at
//! (0, row, col). Attention rotates queries and keys by angles of those
//! coordinates, so text tokens are position-free and image tokens know
//! where they are. The table depends only on the image size and the text
//! length: it is built once per generation and reused by every step.

use sculpt_gpu::{Gpu, Tensor, kernels::rope::rope_table};

use super::{FluxConfig, FluxError};

/// Positions of `tokens` text tokens, [tokens, 3] flattened: all zero.
pub fn text_ids(tokens: usize) -> Vec<f32> {
    vec![0.0; tokens * 3]
}

/// Positions of an image of `rows` × `cols` tokens (the latent's height and
/// width over 2), [rows · cols, 3] flattened, row-major: (0, row, col).
pub fn image_ids(rows: usize, cols: usize) -> Vec<f32> {
    (0..rows)
        .flat_map(|row| (0..cols).flat_map(move |col| [0.0, row as f32, col as f32]))
        .collect()
}

/// The rotary table of a joined [text; image] sequence on the GPU.
pub struct Positions {
    /// [text + image tokens, head_dim / 2, 2]: (cos, sin) per pair.
    pub(crate) table: Tensor,
    pub(crate) text_tokens: usize,
    pub(crate) image_tokens: usize,
}

impl Positions {
    /// From the ids of the text and the image tokens ([tokens, axes]
    /// flattened, axes as in `config.axes_dim`).
    pub fn new(
        gpu: &Gpu,
        config: &FluxConfig,
        txt_ids: &[f32],
        img_ids: &[f32],
    ) -> Result<Self, FluxError> {
        let axes = config.axes_dim.len();
        if !txt_ids.len().is_multiple_of(axes) || !img_ids.len().is_multiple_of(axes) {
            return Err(FluxError::Input(format!(
                "ids are [tokens, {axes}]: {} text and {} image values do not fill whole tokens",
                txt_ids.len(),
                img_ids.len()
            )));
        }
        let (text_tokens, image_tokens) = (txt_ids.len() / axes, img_ids.len() / axes);
        if image_tokens == 0 {
            return Err(FluxError::Input("there are no image tokens".into()));
        }
        let ids = [txt_ids, img_ids].concat();
        Ok(Self {
            table: rope_table(gpu, &ids, &config.axes_dim, config.theta)?,
            text_tokens,
            image_tokens,
        })
    }

    pub fn text_tokens(&self) -> usize {
        self.text_tokens
    }

    pub fn image_tokens(&self) -> usize {
        self.image_tokens
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_ids_walk_rows_then_columns() {
        assert_eq!(
            image_ids(2, 3),
            [
                0., 0., 0., 0., 0., 1., 0., 0., 2., //
                0., 1., 0., 0., 1., 1., 0., 1., 2.
            ]
        );
        assert_eq!(text_ids(2), [0.0; 6]);
    }
}
