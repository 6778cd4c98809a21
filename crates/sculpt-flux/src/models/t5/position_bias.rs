//! T5's relative position bias: each head adds a learned value to the score
//! of every query–key pair, chosen by the bucket of their distance. The
//! buckets depend only on the sequence length, so the table the attention
//! kernel reads is gathered on the CPU and uploaded once per length.

use sculpt_gpu::{Gpu, Tensor};

use super::{T5Config, T5Error};

/// The bucket of `relative_position` (key − query) in a bidirectional
/// encoder with `num_buckets` buckets: the first half is for keys at or
/// before the query, the second half for keys after it. Within each half,
/// distances below a quarter of `num_buckets` get a bucket each; longer ones
/// share log-spaced buckets up to `max_distance`, beyond which all fall into
/// the half's last bucket.
///
/// The logarithm is taken in f32, as T5's PyTorch original and candle do,
/// so that distances on a bucket boundary land on the same side.
pub fn relative_position_bucket(
    relative_position: i64,
    num_buckets: usize,
    max_distance: usize,
) -> usize {
    let half = num_buckets / 2;
    let side = if relative_position > 0 { half } else { 0 };
    let distance = relative_position.unsigned_abs() as usize;
    let max_exact = half / 2;
    if distance < max_exact {
        return side + distance;
    }
    let log_ratio =
        (distance as f32 / max_exact as f32).ln() / (max_distance as f32 / max_exact as f32).ln();
    let log_bucket = max_exact + (log_ratio * (half - max_exact) as f32) as usize;
    side + log_bucket.min(half - 1)
}

/// The attention kernel's bias for a sequence of `tokens`: [heads,
/// 2·tokens − 1], entry `t` of a head being the bias for key − query =
/// `t − (tokens − 1)`. `bucket_weights` is the learned table [buckets, heads].
pub(crate) fn bias_table(config: &T5Config, bucket_weights: &[f32], tokens: usize) -> Vec<f32> {
    let heads = config.num_heads;
    let width = 2 * tokens - 1;
    let buckets: Vec<usize> = (0..width)
        .map(|t| {
            relative_position_bucket(
                t as i64 - (tokens as i64 - 1),
                config.relative_attention_num_buckets,
                config.relative_attention_max_distance,
            )
        })
        .collect();
    (0..heads)
        .flat_map(|head| {
            buckets
                .iter()
                .map(move |bucket| bucket_weights[bucket * heads + head])
        })
        .collect()
}

/// The bias table of one sequence length on the GPU.
pub(crate) struct PositionBias {
    pub tokens: usize,
    pub table: Tensor,
}

impl PositionBias {
    pub fn new(
        gpu: &Gpu,
        config: &T5Config,
        bucket_weights: &[f32],
        tokens: usize,
    ) -> Result<Self, T5Error> {
        let values = bias_table(config, bucket_weights, tokens);
        let table = Tensor::from_slice(gpu, &values, &[config.num_heads, 2 * tokens - 1])?;
        Ok(Self { tokens, table })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Buckets of T5's 32 buckets and max distance 128, worked out by hand:
    /// 16 per side, distances 0..8 exact, then `8 + ⌊8 · log₁₆(d / 8)⌋`
    /// capped at 15, plus 16 for keys after the query.
    #[test]
    fn buckets_match_hand_computed_values() {
        let cases = [
            // Keys at or before the query.
            (0, 0),
            (-1, 1),
            (-7, 7),
            (-8, 8),   // log₁₆(1) = 0
            (-11, 8),  // 8 · log₁₆(1.375) = 0.92
            (-12, 9),  // 8 · log₁₆(1.5) = 1.17
            (-16, 10), // 8 · log₁₆(2) = 2 exactly: the boundary
            (-32, 12),
            (-64, 14),
            (-127, 15), // 8 · log₁₆(15.875) = 7.98
            (-128, 15), // 8 · log₁₆(16) = 8, capped
            (-1000, 15),
            // Keys after the query: the same, 16 higher.
            (1, 17),
            (7, 23),
            (8, 24),
            (12, 25),
            (16, 26),
            (100, 31), // 8 · log₁₆(12.5) = 7.29
            (128, 31),
            (5000, 31),
        ];
        for (relative_position, bucket) in cases {
            assert_eq!(
                relative_position_bucket(relative_position, 32, 128),
                bucket,
                "relative position {relative_position}"
            );
        }
    }

    #[test]
    fn the_table_gathers_each_heads_bucket_weight() {
        let config = T5Config {
            num_heads: 2,
            ..T5Config::tiny()
        };
        // Weight of bucket b for head h: 100·h + b.
        let weights: Vec<f32> = (0..32)
            .flat_map(|bucket| [bucket as f32, 100.0 + bucket as f32])
            .collect();
        let table = bias_table(&config, &weights, 3);
        // Relative positions −2, −1, 0, 1, 2 → buckets 2, 1, 0, 17, 18.
        assert_eq!(
            table,
            [2.0, 1.0, 0.0, 17.0, 18.0, 102.0, 101.0, 100.0, 117.0, 118.0]
        );
    }
}
