//! The shape of a T5 v1.1 encoder: widths, depth, heads and the
//! relative-position buckets.

use sculpt_gpu::kernels::attention::MAX_HEAD_DIM;

use crate::models::oversized;

use super::T5Error;

/// Everything that sizes a T5 v1.1 encoder (gated-GELU feed-forward,
/// RMS layer norms, no biases); the weights fill it in.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct T5Config {
    pub vocab_size: usize,
    /// Width of the residual stream and of the output.
    pub d_model: usize,
    /// Width of one attention head; the heads together need not equal `d_model`.
    pub d_kv: usize,
    pub num_heads: usize,
    /// Hidden width of the gated feed-forward.
    pub d_ff: usize,
    pub num_layers: usize,
    /// Buckets of relative positions, half for keys before the query (and
    /// the query itself), half for keys after it.
    pub relative_attention_num_buckets: usize,
    /// Distance from which all positions share their side's last bucket.
    pub relative_attention_max_distance: usize,
}

/// T5's layer norms (RMS, no mean subtraction).
pub const LAYER_NORM_EPS: f32 = 1e-6;

impl T5Config {
    /// T5 v1.1 XXL, FLUX's `text_encoder_2`.
    pub fn v1_1_xxl() -> Self {
        Self {
            vocab_size: 32_128,
            d_model: 4096,
            d_kv: 64,
            num_heads: 64,
            d_ff: 10_240,
            num_layers: 24,
            relative_attention_num_buckets: 32,
            relative_attention_max_distance: 128,
        }
    }

    /// The same structure at a size a CPU reference runs in moments. The
    /// widths differ from each other (64 model, 3 × 32 = 96 attention, 80
    /// feed-forward) so that a weight read transposed or for the wrong layer
    /// cannot go unnoticed; the buckets are the real ones.
    pub fn tiny() -> Self {
        Self {
            vocab_size: 200,
            d_model: 64,
            d_kv: 32,
            num_heads: 3,
            d_ff: 80,
            num_layers: 2,
            relative_attention_num_buckets: 32,
            relative_attention_max_distance: 128,
        }
    }

    /// Width of all heads side by side: the q, k, v projections' output.
    pub fn inner_dim(&self) -> usize {
        self.num_heads * self.d_kv
    }

    /// Checks what the kernels and the bucket function need of the shape.
    pub fn validate(&self) -> Result<(), T5Error> {
        let buckets = self.relative_attention_num_buckets;
        let problem = if let Some(problem) = oversized([
            ("vocab_size", self.vocab_size),
            ("d_model", self.d_model),
            ("d_kv", self.d_kv),
            ("d_ff", self.d_ff),
            ("num_layers", self.num_layers),
            ("num_heads", self.num_heads),
            ("relative_attention_num_buckets", buckets),
            (
                "relative_attention_max_distance",
                self.relative_attention_max_distance,
            ),
        ]) {
            Some(problem)
        } else if self.num_heads == 0 || self.d_kv == 0 || self.d_kv > MAX_HEAD_DIM {
            Some(format!(
                "{} heads of {}: the attention kernel needs at least one head, 1 to {MAX_HEAD_DIM} wide",
                self.num_heads, self.d_kv
            ))
        } else if buckets < 4 || !buckets.is_multiple_of(4) {
            // Each side's buckets split in half: exact distances, then log-spaced ones.
            Some(format!(
                "{buckets} relative-position buckets: a positive multiple of 4 is needed"
            ))
        } else if self.relative_attention_max_distance <= buckets / 4 {
            Some(format!(
                "max distance {} must exceed the {} exactly bucketed distances",
                self.relative_attention_max_distance,
                buckets / 4
            ))
        } else if self.vocab_size == 0 || self.d_model == 0 || self.d_ff == 0 {
            Some("the vocabulary, model and feed-forward widths must not be empty".into())
        } else {
            None
        };
        match problem {
            Some(problem) => Err(T5Error::Config(problem)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xxl_and_tiny_are_valid() {
        T5Config::v1_1_xxl().validate().unwrap();
        T5Config::tiny().validate().unwrap();
        assert_eq!(T5Config::v1_1_xxl().inner_dim(), 4096);
        assert_eq!(T5Config::tiny().inner_dim(), 96);
    }

    #[test]
    fn shapes_the_kernels_cannot_run_are_refused() {
        for d_kv in [1, 8, 48, 2048] {
            T5Config {
                d_kv,
                ..T5Config::tiny()
            }
            .validate()
            .unwrap();
        }
        let wide_heads = T5Config {
            d_kv: 2049,
            ..T5Config::tiny()
        };
        let odd_buckets = T5Config {
            relative_attention_num_buckets: 30,
            ..T5Config::tiny()
        };
        let short_distance = T5Config {
            relative_attention_max_distance: 8,
            ..T5Config::tiny()
        };
        for config in [wide_heads, odd_buckets, short_distance] {
            assert!(matches!(config.validate(), Err(T5Error::Config(_))));
        }
    }
}
