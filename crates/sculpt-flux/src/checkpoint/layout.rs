//! The tensors each model's checkpoint holds, by name and shape, for a
//! configuration: what a file is checked against once its role is known.

use crate::models::autoencoder::{AutoEncoderConfig, diffusers_vae_name, is_attention_projection};
use crate::models::clip::ClipTextConfig;
use crate::models::flux1::{DiffusersRecipe, FluxConfig, TIME_EMBEDDING_DIM, diffusers_recipe};
use crate::models::t5::T5Config;

/// One tensor a checkpoint holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectedTensor {
    pub name: String,
    pub shape: Vec<usize>,
    /// Some files leave the tensor out (the model has a substitute for it).
    pub optional: bool,
}

fn required(name: String, shape: Vec<usize>) -> ExpectedTensor {
    ExpectedTensor {
        name,
        shape,
        optional: false,
    }
}

/// FLUX's transformer under BFL's names.
pub fn flux_layout(config: &FluxConfig) -> Vec<ExpectedTensor> {
    let h = config.hidden_size;
    let d = config.head_dim();
    let mlp = config.mlp_hidden();
    let mut tensors = Vec::new();
    let mut linear = |name: String, inputs: usize, outputs: usize, bias: bool| {
        tensors.push(required(format!("{name}.weight"), vec![outputs, inputs]));
        if bias {
            tensors.push(required(format!("{name}.bias"), vec![outputs]));
        }
    };
    linear("img_in".into(), config.in_channels, h, true);
    linear("txt_in".into(), config.context_in_dim, h, true);
    let mut embedders = vec![
        ("time_in", TIME_EMBEDDING_DIM),
        ("vector_in", config.vec_in_dim),
    ];
    if config.guidance_embed {
        embedders.push(("guidance_in", TIME_EMBEDDING_DIM));
    }
    for (name, inputs) in embedders {
        linear(format!("{name}.in_layer"), inputs, h, true);
        linear(format!("{name}.out_layer"), h, h, true);
    }
    for block in 0..config.double_blocks {
        for stream in ["img", "txt"] {
            let name = format!("double_blocks.{block}.{stream}");
            linear(format!("{name}_mod.lin"), h, 6 * h, true);
            linear(format!("{name}_attn.qkv"), h, 3 * h, config.qkv_bias);
            linear(format!("{name}_attn.proj"), h, h, true);
            linear(format!("{name}_mlp.0"), h, mlp, true);
            linear(format!("{name}_mlp.2"), mlp, h, true);
        }
    }
    for block in 0..config.single_blocks {
        let name = format!("single_blocks.{block}");
        linear(format!("{name}.modulation.lin"), h, 3 * h, true);
        linear(format!("{name}.linear1"), h, 3 * h + mlp, true);
        linear(format!("{name}.linear2"), h + mlp, h, true);
    }
    linear("final_layer.adaLN_modulation.1".into(), h, 2 * h, true);
    linear("final_layer.linear".into(), h, config.in_channels, true);
    let mut norms: Vec<String> = (0..config.double_blocks)
        .flat_map(|block| {
            ["img", "txt"].map(|stream| format!("double_blocks.{block}.{stream}_attn.norm"))
        })
        .collect();
    norms.extend((0..config.single_blocks).map(|block| format!("single_blocks.{block}.norm")));
    for norm in norms {
        for which in ["query_norm", "key_norm"] {
            tensors.push(required(format!("{norm}.{which}.scale"), vec![d]));
        }
    }
    tensors
}

/// FLUX's transformer under diffusers' names: BFL's layout, each tensor
/// mapped through the loader's own table, fused tensors split back into
/// their parts (q, k, v of the hidden width each; the rest is the MLP's).
pub fn diffusers_flux_layout(config: &FluxConfig) -> Vec<ExpectedTensor> {
    let h = config.hidden_size;
    let mut tensors = Vec::new();
    for tensor in flux_layout(config) {
        let recipe = diffusers_recipe(&tensor.name).expect("every BFL tensor has a diffusers name");
        match recipe {
            DiffusersRecipe::Rename(name) | DiffusersRecipe::SwapHalves(name) => {
                tensors.push(required(name, tensor.shape));
            }
            DiffusersRecipe::JoinRows(parts) => {
                let mut rows_left = tensor.shape[0];
                let count = parts.len();
                for (index, name) in parts.into_iter().enumerate() {
                    let rows = if index + 1 == count { rows_left } else { h };
                    rows_left -= rows;
                    let mut shape = tensor.shape.clone();
                    shape[0] = rows;
                    tensors.push(required(name, shape));
                }
            }
        }
    }
    tensors
}

/// FLUX's autoencoder under BFL's names (`ae.safetensors`).
pub fn autoencoder_layout(config: &AutoEncoderConfig) -> Vec<ExpectedTensor> {
    let mut tensors = Vec::new();
    let mut conv = |name: String, inputs: usize, outputs: usize, kernel: usize| {
        tensors.push(required(
            format!("{name}.weight"),
            vec![outputs, inputs, kernel, kernel],
        ));
        tensors.push(required(format!("{name}.bias"), vec![outputs]));
    };
    let mut norms = Vec::new();
    let resnet = |conv: &mut dyn FnMut(String, usize, usize, usize),
                  norms: &mut Vec<(String, usize)>,
                  name: String,
                  inputs: usize,
                  outputs: usize| {
        norms.push((format!("{name}.norm1"), inputs));
        conv(format!("{name}.conv1"), inputs, outputs, 3);
        norms.push((format!("{name}.norm2"), outputs));
        conv(format!("{name}.conv2"), outputs, outputs, 3);
        if inputs != outputs {
            conv(format!("{name}.nin_shortcut"), inputs, outputs, 1);
        }
    };
    let channels = |level: usize| config.ch * config.ch_mult[level];
    let levels = config.ch_mult.len();
    let bottom = channels(levels - 1);
    let mid = |conv: &mut dyn FnMut(String, usize, usize, usize),
               norms: &mut Vec<(String, usize)>,
               half: &str| {
        resnet(conv, norms, format!("{half}.mid.block_1"), bottom, bottom);
        norms.push((format!("{half}.mid.attn_1.norm"), bottom));
        for projection in ["q", "k", "v", "proj_out"] {
            conv(format!("{half}.mid.attn_1.{projection}"), bottom, bottom, 1);
        }
        resnet(conv, norms, format!("{half}.mid.block_2"), bottom, bottom);
    };

    conv("encoder.conv_in".into(), config.in_channels, config.ch, 3);
    let mut width = config.ch;
    for level in 0..levels {
        for block in 0..config.num_res_blocks {
            let name = format!("encoder.down.{level}.block.{block}");
            resnet(&mut conv, &mut norms, name, width, channels(level));
            width = channels(level);
        }
        if level + 1 < levels {
            conv(
                format!("encoder.down.{level}.downsample.conv"),
                width,
                width,
                3,
            );
        }
    }
    mid(&mut conv, &mut norms, "encoder");
    norms.push(("encoder.norm_out".into(), bottom));
    conv("encoder.conv_out".into(), bottom, 2 * config.z_channels, 3);

    conv("decoder.conv_in".into(), config.z_channels, bottom, 3);
    mid(&mut conv, &mut norms, "decoder");
    let mut width = bottom;
    for level in (0..levels).rev() {
        for block in 0..=config.num_res_blocks {
            let name = format!("decoder.up.{level}.block.{block}");
            resnet(&mut conv, &mut norms, name, width, channels(level));
            width = channels(level);
        }
        if level > 0 {
            conv(format!("decoder.up.{level}.upsample.conv"), width, width, 3);
        }
    }
    norms.push(("decoder.norm_out".into(), width));
    conv("decoder.conv_out".into(), width, config.out_channels, 3);

    for (name, width) in norms {
        tensors.push(required(format!("{name}.weight"), vec![width]));
        tensors.push(required(format!("{name}.bias"), vec![width]));
    }
    tensors
}

/// FLUX's autoencoder under diffusers' names (`vae/`): BFL's layout, each
/// tensor renamed, the attention projections as linears.
pub fn diffusers_autoencoder_layout(config: &AutoEncoderConfig) -> Vec<ExpectedTensor> {
    let levels = config.ch_mult.len();
    autoencoder_layout(config)
        .into_iter()
        .map(|tensor| {
            let mut shape = tensor.shape;
            if is_attention_projection(&tensor.name) {
                shape.truncate(2);
            }
            let name = diffusers_vae_name(&tensor.name, levels)
                .expect("every BFL autoencoder tensor has a diffusers name");
            required(name, shape)
        })
        .collect()
}

/// CLIP's text model under Hugging Face's names (`text_model.…`).
pub fn clip_layout(config: &ClipTextConfig) -> Vec<ExpectedTensor> {
    let (d, mlp) = (config.hidden_size, config.intermediate_size);
    let mut tensors = vec![
        required(
            "text_model.embeddings.token_embedding.weight".into(),
            vec![config.vocab_size, d],
        ),
        required(
            "text_model.embeddings.position_embedding.weight".into(),
            vec![config.max_positions, d],
        ),
        // Older exports keep the position ids buffer; the model counts itself.
        ExpectedTensor {
            name: "text_model.embeddings.position_ids".into(),
            shape: vec![1, config.max_positions],
            optional: true,
        },
    ];
    let mut with_bias = |name: String, weight: Vec<usize>| {
        tensors.push(required(format!("{name}.bias"), vec![weight[0]]));
        tensors.push(required(format!("{name}.weight"), weight));
    };
    for layer in 0..config.num_layers {
        let name = format!("text_model.encoder.layers.{layer}");
        for projection in ["q_proj", "k_proj", "v_proj", "out_proj"] {
            with_bias(format!("{name}.self_attn.{projection}"), vec![d, d]);
        }
        with_bias(format!("{name}.layer_norm1"), vec![d]);
        with_bias(format!("{name}.layer_norm2"), vec![d]);
        with_bias(format!("{name}.mlp.fc1"), vec![mlp, d]);
        with_bias(format!("{name}.mlp.fc2"), vec![d, mlp]);
    }
    with_bias("text_model.final_layer_norm".into(), vec![d]);
    tensors
}

/// T5's encoder under Hugging Face's names. The embedding is the shared
/// table, the encoder's own copy, or both.
pub fn t5_layout(config: &T5Config) -> Vec<ExpectedTensor> {
    let (d, inner, ff) = (config.d_model, config.inner_dim(), config.d_ff);
    let mut tensors = vec![
        ExpectedTensor {
            name: "shared.weight".into(),
            shape: vec![config.vocab_size, d],
            optional: true,
        },
        ExpectedTensor {
            name: "encoder.embed_tokens.weight".into(),
            shape: vec![config.vocab_size, d],
            optional: true,
        },
        required(
            "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight".into(),
            vec![config.relative_attention_num_buckets, config.num_heads],
        ),
    ];
    for block in 0..config.num_layers {
        let attention = format!("encoder.block.{block}.layer.0");
        let feed_forward = format!("encoder.block.{block}.layer.1");
        tensors.push(required(format!("{attention}.layer_norm.weight"), vec![d]));
        for projection in ["q", "k", "v"] {
            tensors.push(required(
                format!("{attention}.SelfAttention.{projection}.weight"),
                vec![inner, d],
            ));
        }
        tensors.push(required(
            format!("{attention}.SelfAttention.o.weight"),
            vec![d, inner],
        ));
        tensors.push(required(
            format!("{feed_forward}.layer_norm.weight"),
            vec![d],
        ));
        for input in ["wi_0", "wi_1"] {
            tensors.push(required(
                format!("{feed_forward}.DenseReluDense.{input}.weight"),
                vec![ff, d],
            ));
        }
        tensors.push(required(
            format!("{feed_forward}.DenseReluDense.wo.weight"),
            vec![d, ff],
        ));
    }
    tensors.push(required("encoder.final_layer_norm.weight".into(), vec![d]));
    tensors
}
