//! The transformer's weights under diffusers' names
//! (`transformer_blocks.0.attn.to_q.weight`), the layout of the
//! `transformer/` folder of the Hugging Face FLUX repositories.
//!
//! The model asks for BFL names; [`DiffusersNames`] answers each from the
//! diffusers tensors it corresponds to. Three differences are more than a
//! rename:
//! - diffusers stores q, k and v (and, in single blocks, the MLP's input)
//!   as separate linears, which BFL fuses: the rows are joined, which works
//!   for packed weights too, since every storage format packs rows
//!   independently;
//! - the final `norm_out.linear` (AdaLayerNormContinuous) produces
//!   (scale, shift) where BFL's `final_layer.adaLN_modulation.1` produces
//!   (shift, scale): its two halves of rows (and of the bias) are swapped;
//! - the QK-norm scales are `attn.norm_q.weight` rather than
//!   `…norm.query_norm.scale`.

use sculpt_gpu::weights::{PackedWeight, WeightFormat, repack};

use crate::weights::{SourceError, SourceTensor, TakeFuture, TensorData, TensorUse, WeightSource};

/// Answers BFL names from a source holding diffusers' names.
pub struct DiffusersNames<S> {
    inner: S,
}

impl<S> DiffusersNames<S> {
    pub fn new(inner: S) -> Self {
        Self { inner }
    }

    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// How one BFL tensor is made from diffusers tensors.
#[derive(Debug, PartialEq, Eq)]
pub enum DiffusersRecipe {
    /// The same tensor under another name.
    Rename(String),
    /// These tensors' rows (or values, for 1-D tensors) one after another.
    JoinRows(Vec<String>),
    /// This tensor with its first and second halves of rows swapped.
    SwapHalves(String),
}

/// The diffusers tensor(s) BFL tensor `bfl` is made from, or `None` for a
/// name FLUX does not have.
pub fn diffusers_recipe(bfl: &str) -> Option<DiffusersRecipe> {
    use DiffusersRecipe::*;
    let (layer, suffix) = bfl.rsplit_once('.')?;
    let parts: Vec<&str> = layer.split('.').collect();
    let with = |name: &str| format!("{name}.{suffix}");
    let recipe = match parts.as_slice() {
        ["img_in"] => Rename(with("x_embedder")),
        ["txt_in"] => Rename(with("context_embedder")),
        [embedder @ ("time_in" | "vector_in" | "guidance_in"), layer] => {
            let embedder = match *embedder {
                "time_in" => "timestep_embedder",
                "vector_in" => "text_embedder",
                _ => "guidance_embedder",
            };
            let linear = match *layer {
                "in_layer" => "linear_1",
                "out_layer" => "linear_2",
                _ => return None,
            };
            Rename(with(&format!("time_text_embed.{embedder}.{linear}")))
        }
        ["double_blocks", index, rest @ ..] => {
            let block = format!("transformer_blocks.{index}");
            let (stream, rest) = match rest {
                [first, rest @ ..] => (first.split_once('_')?, rest),
                [] => return None,
            };
            let image = match stream.0 {
                "img" => true,
                "txt" => false,
                _ => return None,
            };
            let pick = |img: &str, txt: &str| format!("{block}.{}", if image { img } else { txt });
            match (stream.1, rest) {
                ("mod", ["lin"]) => Rename(with(&pick("norm1.linear", "norm1_context.linear"))),
                ("attn", ["qkv"]) => {
                    let names = if image {
                        ["to_q", "to_k", "to_v"]
                    } else {
                        ["add_q_proj", "add_k_proj", "add_v_proj"]
                    };
                    JoinRows(
                        names
                            .iter()
                            .map(|name| with(&format!("{block}.attn.{name}")))
                            .collect(),
                    )
                }
                ("attn", ["proj"]) => Rename(with(&pick("attn.to_out.0", "attn.to_add_out"))),
                ("attn", ["norm", which]) if suffix == "scale" => {
                    let norm = match (*which, image) {
                        ("query_norm", true) => "norm_q",
                        ("key_norm", true) => "norm_k",
                        ("query_norm", false) => "norm_added_q",
                        ("key_norm", false) => "norm_added_k",
                        _ => return None,
                    };
                    Rename(format!("{block}.attn.{norm}.weight"))
                }
                ("mlp", ["0"]) => Rename(with(&pick("ff.net.0.proj", "ff_context.net.0.proj"))),
                ("mlp", ["2"]) => Rename(with(&pick("ff.net.2", "ff_context.net.2"))),
                _ => return None,
            }
        }
        ["single_blocks", index, rest @ ..] => {
            let block = format!("single_transformer_blocks.{index}");
            match rest {
                ["modulation", "lin"] => Rename(with(&format!("{block}.norm.linear"))),
                ["linear1"] => JoinRows(
                    ["attn.to_q", "attn.to_k", "attn.to_v", "proj_mlp"]
                        .iter()
                        .map(|name| with(&format!("{block}.{name}")))
                        .collect(),
                ),
                ["linear2"] => Rename(with(&format!("{block}.proj_out"))),
                ["norm", which] if suffix == "scale" => {
                    let norm = match *which {
                        "query_norm" => "norm_q",
                        "key_norm" => "norm_k",
                        _ => return None,
                    };
                    Rename(format!("{block}.attn.{norm}.weight"))
                }
                _ => return None,
            }
        }
        ["final_layer", "adaLN_modulation", "1"] => SwapHalves(with("norm_out.linear")),
        ["final_layer", "linear"] => Rename(with("proj_out")),
        _ => return None,
    };
    Some(recipe)
}

impl<S: WeightSource> WeightSource for DiffusersNames<S> {
    fn take<'a>(&'a mut self, name: &'a str, used_as: TensorUse) -> TakeFuture<'a> {
        Box::pin(async move {
            let Some(recipe) = diffusers_recipe(name) else {
                return Ok(None);
            };
            match recipe {
                DiffusersRecipe::Rename(from) => self.inner.take(&from, used_as).await,
                DiffusersRecipe::SwapHalves(from) => {
                    let Some(tensor) = self.inner.take(&from, used_as).await? else {
                        return Ok(None);
                    };
                    swap_halves(tensor)
                        .map(Some)
                        .map_err(|problem| format!("diffusers tensor \"{from}\": {problem}").into())
                }
                DiffusersRecipe::JoinRows(parts) => {
                    let mut tensors = Vec::with_capacity(parts.len());
                    for part in &parts {
                        // A missing part is reported under its own name, so
                        // that the user sees which diffusers tensor is absent.
                        let Some(tensor) = self.inner.take(part, used_as).await? else {
                            return Err(format!(
                                "the diffusers tensor \"{part}\" it is made from is missing"
                            )
                            .into());
                        };
                        tensors.push(tensor);
                    }
                    join_rows(tensors).map(Some).map_err(|problem| {
                        format!("joining diffusers tensors {parts:?}: {problem}").into()
                    })
                }
            }
        })
    }
}

/// `tensors` one after another along their outermost dimension.
fn join_rows(tensors: Vec<SourceTensor>) -> Result<SourceTensor, SourceError> {
    let first_shape = tensors
        .first()
        .ok_or("there is nothing to join")?
        .shape
        .clone();
    let inner = &first_shape[1..];
    let mut rows = 0;
    for tensor in &tensors {
        if tensor.shape.is_empty() || &tensor.shape[1..] != inner {
            return Err(format!(
                "shapes {:?} cannot be joined by rows",
                tensors.iter().map(|t| &t.shape).collect::<Vec<_>>()
            )
            .into());
        }
        rows += tensor.shape[0];
    }
    let mut shape = first_shape.clone();
    shape[0] = rows;
    let all_f32 = tensors.iter().all(|t| matches!(t.data, TensorData::F32(_)));
    let data = if all_f32 {
        let mut values = Vec::new();
        for tensor in tensors {
            if let TensorData::F32(part) = tensor.data {
                values.extend(part);
            }
        }
        TensorData::F32(values)
    } else {
        let mut joined: Option<PackedWeight> = None;
        for tensor in tensors {
            let packed = packed(tensor)?;
            match joined.as_mut() {
                None => joined = Some(packed),
                Some(joined) => joined.append_rows(&packed)?,
            }
        }
        TensorData::Packed(joined.ok_or("there is nothing to join")?)
    };
    Ok(SourceTensor { shape, data })
}

/// The tensor with its two halves of rows exchanged.
fn swap_halves(tensor: SourceTensor) -> Result<SourceTensor, SourceError> {
    let rows = *tensor.shape.first().ok_or("a scalar has no halves")?;
    if rows % 2 != 0 {
        return Err(format!("its {rows} rows cannot be cut in two halves").into());
    }
    let half = rows / 2;
    let data = match tensor.data {
        TensorData::F32(values) => {
            let split = values.len() / 2;
            let mut swapped = values[split..].to_vec();
            swapped.extend_from_slice(&values[..split]);
            TensorData::F32(swapped)
        }
        TensorData::Packed(packed) => {
            let mut swapped = packed
                .row_range(half..rows)
                .ok_or("its packed rows do not match its shape")?;
            swapped.append_rows(
                &packed
                    .row_range(0..half)
                    .ok_or("its packed rows do not match its shape")?,
            )?;
            TensorData::Packed(swapped)
        }
    };
    Ok(SourceTensor {
        shape: tensor.shape,
        data,
    })
}

/// A 2-D tensor as a packed weight (f32 values are packed as F32).
fn packed(tensor: SourceTensor) -> Result<PackedWeight, SourceError> {
    match (tensor.data, tensor.shape.as_slice()) {
        (TensorData::Packed(packed), _) => Ok(packed),
        (TensorData::F32(values), &[rows, cols]) => {
            let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            Ok(repack(WeightFormat::F32, rows, cols, &bytes)?)
        }
        (TensorData::F32(_), shape) => {
            Err(format!("a tensor of shape {shape:?} cannot be joined to packed rows").into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{DiffusersRecipe::*, diffusers_recipe};

    #[test]
    fn names_by_hand() {
        let rename = |name: &str| Some(Rename(name.into()));
        assert_eq!(
            diffusers_recipe("img_in.weight"),
            rename("x_embedder.weight")
        );
        assert_eq!(
            diffusers_recipe("guidance_in.out_layer.bias"),
            rename("time_text_embed.guidance_embedder.linear_2.bias")
        );
        assert_eq!(
            diffusers_recipe("double_blocks.3.txt_attn.qkv.bias"),
            Some(JoinRows(vec![
                "transformer_blocks.3.attn.add_q_proj.bias".into(),
                "transformer_blocks.3.attn.add_k_proj.bias".into(),
                "transformer_blocks.3.attn.add_v_proj.bias".into(),
            ]))
        );
        assert_eq!(
            diffusers_recipe("double_blocks.0.txt_attn.norm.key_norm.scale"),
            rename("transformer_blocks.0.attn.norm_added_k.weight")
        );
        assert_eq!(
            diffusers_recipe("single_blocks.7.linear1.weight"),
            Some(JoinRows(vec![
                "single_transformer_blocks.7.attn.to_q.weight".into(),
                "single_transformer_blocks.7.attn.to_k.weight".into(),
                "single_transformer_blocks.7.attn.to_v.weight".into(),
                "single_transformer_blocks.7.proj_mlp.weight".into(),
            ]))
        );
        assert_eq!(
            diffusers_recipe("final_layer.adaLN_modulation.1.weight"),
            Some(SwapHalves("norm_out.linear.weight".into()))
        );
        assert_eq!(
            diffusers_recipe("double_blocks.0.img_attn.bogus.weight"),
            None
        );
        assert_eq!(diffusers_recipe("nothing"), None);
    }
}
