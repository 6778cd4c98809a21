//! The shape of a FLUX.1 transformer: widths, depths and position axes.

use sculpt_gpu::kernels::attention::MAX_HEAD_DIM;

use crate::models::oversized;

use super::FluxError;

/// Everything that sizes a FLUX transformer; the weights fill it in.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FluxConfig {
    /// Features per image token: 16 latent channels × a 2×2 patch.
    pub in_channels: usize,
    /// Width of the pooled text vector `y` (CLIP-L's 768).
    pub vec_in_dim: usize,
    /// Width of the text tokens (T5-XXL's 4096).
    pub context_in_dim: usize,
    pub hidden_size: usize,
    /// The MLPs' hidden width over `hidden_size`.
    pub mlp_ratio: f64,
    pub num_heads: usize,
    /// Blocks with separate text and image weights.
    pub double_blocks: usize,
    /// Blocks over the joined text and image sequence.
    pub single_blocks: usize,
    /// Rotary dimensions per position axis (index, row, column); they add up
    /// to the head dimension.
    pub axes_dim: Vec<usize>,
    pub theta: f64,
    /// Whether the attention qkv projections have biases.
    pub qkv_bias: bool,
    /// FLUX.1-dev is guidance-distilled: the guidance strength is embedded
    /// like the timestep. schnell has no such input.
    pub guidance_embed: bool,
}

/// Width of the sinusoidal embeddings of the timestep and the guidance.
pub const TIME_EMBEDDING_DIM: usize = 256;
/// FLUX's LayerNorms and QK RMSNorms.
pub const NORM_EPS: f32 = 1e-6;

impl FluxConfig {
    /// FLUX.1-schnell: timestep-distilled, no guidance input.
    pub fn schnell() -> Self {
        Self {
            in_channels: 64,
            vec_in_dim: 768,
            context_in_dim: 4096,
            hidden_size: 3072,
            mlp_ratio: 4.0,
            num_heads: 24,
            double_blocks: 19,
            single_blocks: 38,
            axes_dim: vec![16, 56, 56],
            theta: 10_000.0,
            qkv_bias: true,
            guidance_embed: false,
        }
    }

    /// FLUX.1-dev: schnell's structure plus the guidance embedder.
    pub fn dev() -> Self {
        Self {
            guidance_embed: true,
            ..Self::schnell()
        }
    }

    /// The same structure at a size a CPU reference runs in moments: 2 heads
    /// of 64, 2 double and 2 single blocks, and input widths unlike each
    /// other so that a weight read for the wrong input cannot go unnoticed.
    pub fn tiny(guidance_embed: bool) -> Self {
        Self {
            in_channels: 64,
            vec_in_dim: 32,
            context_in_dim: 48,
            hidden_size: 128,
            mlp_ratio: 4.0,
            num_heads: 2,
            double_blocks: 2,
            single_blocks: 2,
            axes_dim: vec![16, 24, 24],
            theta: 10_000.0,
            qkv_bias: true,
            guidance_embed,
        }
    }

    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_heads.max(1)
    }

    /// The MLPs' hidden width, rounded down as the reference does.
    pub fn mlp_hidden(&self) -> usize {
        (self.hidden_size as f64 * self.mlp_ratio) as usize
    }

    /// Checks what the kernels and the rotary embedding need of the shape.
    pub fn validate(&self) -> Result<(), FluxError> {
        let head_dim = self.head_dim();
        let sizes = [
            ("in_channels", self.in_channels),
            ("vec_in_dim", self.vec_in_dim),
            ("context_in_dim", self.context_in_dim),
            ("hidden_size", self.hidden_size),
            ("MLP width (hidden_size × mlp_ratio)", self.mlp_hidden()),
            ("num_heads", self.num_heads),
            ("double_blocks", self.double_blocks),
            ("single_blocks", self.single_blocks),
            ("rotary axes", self.axes_dim.len()),
        ];
        let axes = self.axes_dim.iter().map(|&d| ("a rotary axis", d));
        let problem = if let Some(problem) = oversized(sizes.into_iter().chain(axes)) {
            Some(problem)
        } else if !self.mlp_ratio.is_finite() || self.mlp_ratio < 0.0 {
            Some(format!("mlp_ratio {} is not a width ratio", self.mlp_ratio))
        } else if self.num_heads == 0 || !self.hidden_size.is_multiple_of(self.num_heads) {
            Some(format!(
                "hidden size {} does not split into {} heads",
                self.hidden_size, self.num_heads
            ))
        } else if head_dim > MAX_HEAD_DIM {
            Some(format!(
                "head dimension {head_dim}: the attention kernel takes heads up to {MAX_HEAD_DIM} wide"
            ))
        } else if self.axes_dim.iter().sum::<usize>() != head_dim
            || self
                .axes_dim
                .iter()
                .any(|d| *d == 0 || !d.is_multiple_of(2))
        {
            Some(format!(
                "rotary axes {:?} must be even and add up to the head dimension {head_dim}",
                self.axes_dim
            ))
        } else if self.mlp_hidden() == 0 || self.in_channels == 0 {
            Some("the MLP and the input need at least one feature".into())
        } else {
            None
        };
        match problem {
            Some(problem) => Err(FluxError::Config(problem)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn released_models_and_tiny_are_valid() {
        for config in [
            FluxConfig::schnell(),
            FluxConfig::dev(),
            FluxConfig::tiny(false),
        ] {
            config.validate().unwrap();
        }
        assert_eq!(FluxConfig::schnell().head_dim(), 128);
        assert_eq!(FluxConfig::schnell().mlp_hidden(), 12_288);
        assert!(FluxConfig::dev().guidance_embed && !FluxConfig::schnell().guidance_embed);
    }

    #[test]
    fn shapes_the_kernels_cannot_run_are_refused() {
        let odd_heads = FluxConfig {
            num_heads: 3,
            ..FluxConfig::tiny(false)
        };
        // Heads of any width the attention kernel takes are fine: 16 wide.
        FluxConfig {
            num_heads: 8,
            axes_dim: vec![4, 6, 6],
            ..FluxConfig::tiny(false)
        }
        .validate()
        .unwrap();
        let wide_heads = FluxConfig {
            hidden_size: 4096,
            num_heads: 1,
            axes_dim: vec![512, 1792, 1792],
            ..FluxConfig::tiny(false)
        };
        let short_axes = FluxConfig {
            axes_dim: vec![16, 24, 22],
            ..FluxConfig::tiny(false)
        };
        for config in [odd_heads, wide_heads, short_axes] {
            assert!(matches!(config.validate(), Err(FluxError::Config(_))));
        }
    }
}
