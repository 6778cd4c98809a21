//! The shape of a CLIP text model: vocabulary, width, depth, positions.

use sculpt_gpu::kernels::attention::MAX_HEAD_DIM;

use crate::models::oversized;

use super::ClipError;

/// Everything that sizes a CLIP text model. The activation is always
/// QuickGELU and the attention always causal, as in every CLIP text tower
/// FLUX uses.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClipTextConfig {
    pub vocab_size: usize,
    /// Width of the token states (CLIP-L's 768).
    pub hidden_size: usize,
    /// Hidden width of the MLPs.
    pub intermediate_size: usize,
    pub num_heads: usize,
    pub num_layers: usize,
    /// Learned positions: the longest sequence the model takes (77).
    pub max_positions: usize,
}

/// Every LayerNorm of the text model, the final one included.
pub const LAYER_NORM_EPS: f32 = 1e-5;

impl ClipTextConfig {
    /// CLIP ViT-L/14's text model (openai/clip-vit-large-patch14), FLUX's
    /// `text_encoder`.
    pub fn vit_l_14() -> Self {
        Self {
            vocab_size: 49408,
            hidden_size: 768,
            intermediate_size: 3072,
            num_heads: 12,
            num_layers: 12,
            max_positions: 77,
        }
    }

    /// The same structure at a size a CPU reference runs in moments: 2
    /// layers of 2 heads of 32 (the attention kernel's smallest head), all
    /// 77 positions, and a vocabulary of 1000.
    pub fn tiny() -> Self {
        Self {
            vocab_size: 1000,
            hidden_size: 64,
            intermediate_size: 256,
            num_heads: 2,
            num_layers: 2,
            max_positions: 77,
        }
    }

    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_heads.max(1)
    }

    /// Refuses configurations the kernels cannot run, before any upload.
    pub(crate) fn validate(&self) -> Result<(), ClipError> {
        let problem = if let Some(problem) = oversized([
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_heads", self.num_heads),
            ("num_layers", self.num_layers),
            ("max_positions", self.max_positions),
        ]) {
            Some(problem)
        } else if [
            self.vocab_size,
            self.hidden_size,
            self.intermediate_size,
            self.num_heads,
            self.max_positions,
        ]
        .contains(&0)
        {
            Some("vocabulary, widths, heads and positions must not be zero".to_string())
        } else if !self.hidden_size.is_multiple_of(self.num_heads) {
            Some(format!(
                "width {} does not split into {} heads",
                self.hidden_size, self.num_heads
            ))
        } else if self.head_dim() > MAX_HEAD_DIM {
            Some(format!(
                "heads {} wide: the attention kernel takes heads up to {MAX_HEAD_DIM} wide",
                self.head_dim()
            ))
        } else {
            None
        };
        problem.map_or(Ok(()), |problem| Err(ClipError::Config(problem)))
    }
}
