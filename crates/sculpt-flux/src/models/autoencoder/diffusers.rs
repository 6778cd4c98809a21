//! The autoencoder's weights under diffusers' names
//! (`decoder.up_blocks.0.resnets.0.conv1.weight`), the layout of the `vae/`
//! folder of the Hugging Face FLUX repositories.
//!
//! The model asks for BFL names; [`DiffusersVaeNames`] answers each from
//! the diffusers tensor it corresponds to. Besides renaming, two things
//! differ: the decoder's levels are numbered from the bottom in BFL
//! (`up.3` is the first to run) and from the top in diffusers
//! (`up_blocks.0`), and the mid-block attention's q, k, v and output
//! projections are linears [C, C] in diffusers where BFL stores 1×1
//! convolutions [C, C, 1, 1] (the same values).

use crate::weights::{TakeFuture, TensorUse, WeightSource};

/// The diffusers name of BFL autoencoder tensor `bfl`, for an autoencoder
/// of `levels` resolution levels; `None` for a name it does not have.
pub fn diffusers_vae_name(bfl: &str, levels: usize) -> Option<String> {
    let (half, rest) = bfl.split_once('.')?;
    if half != "encoder" && half != "decoder" {
        return None;
    }
    let parts: Vec<&str> = rest.split('.').collect();
    let mapped = match parts.as_slice() {
        ["conv_in" | "conv_out", suffix] => format!("{}.{suffix}", parts[0]),
        ["norm_out", suffix] => format!("conv_norm_out.{suffix}"),
        ["mid", block @ ("block_1" | "block_2"), layer, suffix] => {
            let index = if *block == "block_1" { 0 } else { 1 };
            format!(
                "mid_block.resnets.{index}.{}.{suffix}",
                resnet_layer(layer)?
            )
        }
        ["mid", "attn_1", layer, suffix] => {
            let layer = match *layer {
                "norm" => "group_norm",
                "q" => "to_q",
                "k" => "to_k",
                "v" => "to_v",
                "proj_out" => "to_out.0",
                _ => return None,
            };
            format!("mid_block.attentions.0.{layer}.{suffix}")
        }
        ["down", level, "block", block, layer, suffix] if half == "encoder" => {
            format!(
                "down_blocks.{level}.resnets.{block}.{}.{suffix}",
                resnet_layer(layer)?
            )
        }
        ["down", level, "downsample", "conv", suffix] if half == "encoder" => {
            format!("down_blocks.{level}.downsamplers.0.conv.{suffix}")
        }
        ["up", level, "block", block, layer, suffix] if half == "decoder" => {
            let level = from_top(level, levels)?;
            format!(
                "up_blocks.{level}.resnets.{block}.{}.{suffix}",
                resnet_layer(layer)?
            )
        }
        ["up", level, "upsample", "conv", suffix] if half == "decoder" => {
            let level = from_top(level, levels)?;
            format!("up_blocks.{level}.upsamplers.0.conv.{suffix}")
        }
        _ => return None,
    };
    Some(format!("{half}.{mapped}"))
}

/// Whether `bfl` is one of the mid attention's projections, which diffusers
/// stores as linears.
pub fn is_attention_projection(bfl: &str) -> bool {
    ["q", "k", "v", "proj_out"]
        .iter()
        .any(|layer| bfl.ends_with(&format!(".mid.attn_1.{layer}.weight")))
}

fn resnet_layer(layer: &str) -> Option<&'static str> {
    Some(match layer {
        "norm1" => "norm1",
        "conv1" => "conv1",
        "norm2" => "norm2",
        "conv2" => "conv2",
        "nin_shortcut" => "conv_shortcut",
        _ => return None,
    })
}

/// BFL's decoder level (numbered from the bottom) as diffusers' (from the top).
fn from_top(level: &str, levels: usize) -> Option<usize> {
    let level: usize = level.parse().ok()?;
    levels.checked_sub(1)?.checked_sub(level)
}

/// Answers BFL names from a source holding diffusers' autoencoder names.
pub struct DiffusersVaeNames<S> {
    inner: S,
    levels: usize,
}

impl<S> DiffusersVaeNames<S> {
    /// `levels`: the autoencoder's resolution levels (`ch_mult.len()`).
    pub fn new(inner: S, levels: usize) -> Self {
        Self { inner, levels }
    }
}

impl<S: WeightSource> WeightSource for DiffusersVaeNames<S> {
    fn take<'a>(&'a mut self, name: &'a str, used_as: TensorUse) -> TakeFuture<'a> {
        Box::pin(async move {
            let Some(diffusers) = diffusers_vae_name(name, self.levels) else {
                return Ok(None);
            };
            let mut tensor = self.inner.take(&diffusers, used_as).await?;
            if let Some(tensor) = tensor.as_mut()
                && is_attention_projection(name)
                && tensor.shape.len() == 2
            {
                // [C, C] → [C, C, 1, 1]: the same values.
                tensor.shape.extend([1, 1]);
            }
            Ok(tensor)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::diffusers_vae_name;

    #[test]
    fn names_by_hand() {
        let name = |bfl: &str| diffusers_vae_name(bfl, 4);
        assert_eq!(
            name("encoder.conv_in.weight").unwrap(),
            "encoder.conv_in.weight"
        );
        assert_eq!(
            name("decoder.norm_out.bias").unwrap(),
            "decoder.conv_norm_out.bias"
        );
        assert_eq!(
            name("encoder.down.1.block.0.nin_shortcut.weight").unwrap(),
            "encoder.down_blocks.1.resnets.0.conv_shortcut.weight"
        );
        assert_eq!(
            name("encoder.down.2.downsample.conv.bias").unwrap(),
            "encoder.down_blocks.2.downsamplers.0.conv.bias"
        );
        // BFL's up.3 runs first: diffusers' up_blocks.0.
        assert_eq!(
            name("decoder.up.3.block.2.conv1.weight").unwrap(),
            "decoder.up_blocks.0.resnets.2.conv1.weight"
        );
        assert_eq!(
            name("decoder.up.1.upsample.conv.weight").unwrap(),
            "decoder.up_blocks.2.upsamplers.0.conv.weight"
        );
        assert_eq!(
            name("decoder.mid.attn_1.proj_out.weight").unwrap(),
            "decoder.mid_block.attentions.0.to_out.0.weight"
        );
        assert_eq!(
            name("encoder.mid.block_2.norm2.weight").unwrap(),
            "encoder.mid_block.resnets.1.norm2.weight"
        );
        assert_eq!(name("decoder.up.4.block.0.conv1.weight"), None);
        assert_eq!(name("decoder.down.0.block.0.conv1.weight"), None);
        assert_eq!(name("quant_conv.weight"), None);
    }
}
