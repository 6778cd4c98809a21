//! What a checkpoint's weights take on the GPU: which of a role's tensors
//! the models load as linear weights, and the bytes of them all once loaded.

use super::detect::Role;
use crate::formats::TensorInfo;
use crate::weights::gpu_bytes;

/// Whether a tensor reaches the GPU as a linear weight (kept in its storage
/// format) rather than as f32 values: the 2-D tensors except embedding and
/// position tables, as the models ask for them.
pub fn is_linear_weight(role: Role, name: &str, rank: usize) -> bool {
    rank == 2
        && match role {
            Role::Transformer => true,
            Role::Autoencoder => false,
            Role::Clip => !name.contains("embedding") && !name.ends_with("position_ids"),
            Role::T5 => {
                name != "shared.weight"
                    && !name.ends_with("embed_tokens.weight")
                    && !name.contains("relative_attention_bias")
            }
        }
}

/// The bytes a file's tensors take on the GPU once loaded.
pub fn gpu_weight_bytes<'a>(role: Role, tensors: impl IntoIterator<Item = &'a TensorInfo>) -> u64 {
    tensors
        .into_iter()
        .map(|info| gpu_bytes(info, is_linear_weight(role, &info.name, info.shape.len())))
        .sum()
}

#[cfg(test)]
mod tests {
    use sculpt_gpu::weights::WeightFormat;

    use super::*;
    use crate::formats::{Dtype, Encoding};

    #[test]
    fn weight_bytes_follow_the_loaders_forms() {
        let info = |name: &str, shape: Vec<u64>, encoding| TensorInfo {
            name: name.into(),
            shape,
            encoding,
            bytes: 0..0,
        };
        let q4 = Encoding::Quantized(WeightFormat::Q4_0);
        let tensors = [
            // 64 rows of 4 Q4_0 blocks, each 18 bytes packed into 5 words.
            info("double_blocks.0.img_mlp.0.weight", vec![64, 128], q4),
            // BF16 stays 2 bytes a value; a vector becomes f32.
            info("img_in.weight", vec![8, 64], Encoding::Plain(Dtype::BF16)),
            info("img_in.bias", vec![8], Encoding::Plain(Dtype::BF16)),
            // FP8 becomes f16.
            info(
                "txt_in.weight",
                vec![8, 64],
                Encoding::Plain(Dtype::F8_E4M3),
            ),
        ];
        assert_eq!(
            gpu_weight_bytes(Role::Transformer, &tensors),
            64 * 4 * 20 + 8 * 64 * 2 + 8 * 4 + 8 * 64 * 2
        );
        // T5's embedding table is read as f32 rows, whatever the file holds.
        let table = [info(
            "shared.weight",
            vec![100, 64],
            Encoding::Plain(Dtype::BF16),
        )];
        assert_eq!(gpu_weight_bytes(Role::T5, &table), 100 * 64 * 4);
    }
}
