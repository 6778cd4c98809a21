//! What a weight file is, from its tensor names and shapes alone: its role
//! (transformer, autoencoder, CLIP, T5), naming scheme, and the
//! configuration its shapes imply; then every tensor is checked against that
//! configuration's layout, so that a file that only looks like a model is
//! refused before anything is loaded.

use std::collections::{BTreeSet, HashMap};

use super::layout::{
    ExpectedTensor, autoencoder_layout, clip_layout, diffusers_autoencoder_layout,
    diffusers_flux_layout, flux_layout, t5_layout,
};
use crate::formats::TensorIndex;
use crate::models::autoencoder::AutoEncoderConfig;
use crate::models::clip::ClipTextConfig;
use crate::models::flux1::FluxConfig;
use crate::models::t5::T5Config;

/// What a checkpoint is for in the pipeline: the kind of model it holds.
///
/// A new kind adds a variant here and an arm at each point that knows the
/// kinds (the compiler lists most of them): its [`ModelConfig`] (validation,
/// tensor layout, variant in words) and its detection in [`detect`]; how its
/// weights reach the GPU ([`super::is_linear_weight`]); its manifest JSON
/// (`family::ModelConfigs`'s serde); for a text encoder, its outputs and
/// width (`family/mod.rs`), its tokenizer (`family::PromptTokenizer`), its
/// stage in the memory plan (`pipeline/memory.rs`) and the model on each
/// backend (`gpu/text_encoder.rs`, `cpu/models.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Transformer,
    Autoencoder,
    Clip,
    T5,
}

impl Role {
    /// Every role, in pipeline order.
    pub const ALL: [Role; 4] = [Role::Transformer, Role::Autoencoder, Role::Clip, Role::T5];

    /// The role's key in a manifest's `files` and `config`.
    pub fn key(self) -> &'static str {
        match self {
            Role::Transformer => "transformer",
            Role::Autoencoder => "autoencoder",
            Role::Clip => "clip",
            Role::T5 => "t5",
        }
    }

    pub fn from_key(key: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.key() == key)
    }

    /// For a text encoder, the `model.type` of its tokenizer.json (how a
    /// loose tokenizer is matched to its encoder); `None` for the others.
    pub fn tokenizer_model(self) -> Option<&'static str> {
        match self {
            Role::Clip => Some("BPE"),
            Role::T5 => Some("Unigram"),
            Role::Transformer | Role::Autoencoder => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Role::Transformer => "FLUX transformer",
            Role::Autoencoder => "FLUX autoencoder",
            Role::Clip => "CLIP text model",
            Role::T5 => "T5 encoder",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Whose tensor names a transformer or autoencoder file uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Naming {
    /// Black Forest Labs' (`double_blocks.0.img_attn.qkv`), also city96's GGUF.
    Bfl,
    /// diffusers' (`transformer_blocks.0.attn.to_q`).
    Diffusers,
}

/// A model's configuration, as inferred from a file or given in a manifest.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelConfig {
    Transformer(FluxConfig),
    Autoencoder(AutoEncoderConfig),
    Clip(ClipTextConfig),
    T5(T5Config),
}

impl ModelConfig {
    pub fn role(&self) -> Role {
        match self {
            ModelConfig::Transformer(_) => Role::Transformer,
            ModelConfig::Autoencoder(_) => Role::Autoencoder,
            ModelConfig::Clip(_) => Role::Clip,
            ModelConfig::T5(_) => Role::T5,
        }
    }

    /// Whether the kernels can run this configuration.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            ModelConfig::Transformer(config) => config.validate().map_err(|e| e.to_string()),
            ModelConfig::Autoencoder(config) => config.validate().map_err(|e| e.to_string()),
            ModelConfig::Clip(config) => config.validate().map_err(|e| e.to_string()),
            ModelConfig::T5(config) => config.validate().map_err(|e| e.to_string()),
        }
    }

    /// The tensors a checkpoint of this configuration holds under `naming`
    /// (which only the transformer has two of).
    pub fn layout(&self, naming: Naming) -> Vec<ExpectedTensor> {
        match self {
            ModelConfig::Transformer(config) => match naming {
                Naming::Bfl => flux_layout(config),
                Naming::Diffusers => diffusers_flux_layout(config),
            },
            ModelConfig::Autoencoder(config) => match naming {
                Naming::Bfl => autoencoder_layout(config),
                Naming::Diffusers => diffusers_autoencoder_layout(config),
            },
            ModelConfig::Clip(config) => clip_layout(config),
            ModelConfig::T5(config) => t5_layout(config),
        }
    }
}

/// A recognized checkpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    pub naming: Naming,
    pub config: ModelConfig,
}

impl Checkpoint {
    pub fn role(&self) -> Role {
        self.config.role()
    }

    /// The variant in words: the released model it matches, or its size.
    pub fn variant(&self) -> String {
        match &self.config {
            ModelConfig::Transformer(config) => {
                let kind = if config.guidance_embed {
                    "dev (guidance-distilled)"
                } else {
                    "schnell (no guidance input)"
                };
                let names = match self.naming {
                    Naming::Bfl => "BFL names",
                    Naming::Diffusers => "diffusers names",
                };
                let full_size = *config == FluxConfig::schnell() || *config == FluxConfig::dev();
                let size = if full_size {
                    "FLUX.1, full size".to_string()
                } else {
                    format!(
                        "hidden {}, {} heads, {} double + {} single blocks",
                        config.hidden_size,
                        config.num_heads,
                        config.double_blocks,
                        config.single_blocks
                    )
                };
                format!("{kind}; {size}; {names}")
            }
            ModelConfig::Autoencoder(config) => {
                let names = match self.naming {
                    Naming::Bfl => "BFL names",
                    Naming::Diffusers => "diffusers names",
                };
                if *config == AutoEncoderConfig::flux() {
                    format!("FLUX.1's autoencoder (16 latent channels); {names}")
                } else {
                    format!(
                        "{} latent channels, widths {:?}; {names}",
                        config.z_channels,
                        config
                            .ch_mult
                            .iter()
                            .map(|m| m * config.ch)
                            .collect::<Vec<_>>()
                    )
                }
            }
            ModelConfig::Clip(config) => {
                if *config == ClipTextConfig::vit_l_14() {
                    "CLIP ViT-L/14 text model".into()
                } else {
                    format!("width {}, {} layers", config.hidden_size, config.num_layers)
                }
            }
            ModelConfig::T5(config) => {
                if *config == T5Config::v1_1_xxl() {
                    "T5 v1.1 XXL encoder".into()
                } else {
                    format!(
                        "d_model {}, {} layers, {} heads",
                        config.d_model, config.num_layers, config.num_heads
                    )
                }
            }
        }
    }
}

/// Why a file is not a checkpoint Sculpt can use.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {problem}")]
pub struct CheckpointError {
    pub file: String,
    pub problem: CheckpointProblem,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointProblem {
    #[error("the file holds no tensors")]
    Empty,
    #[error(
        "no model Sculpt runs has a tensor named '{first}' (the file's first tensor); it reads \
         the FLUX transformer (BFL or diffusers names), FLUX's autoencoder, CLIP's text model \
         and T5's encoder"
    )]
    UnknownModel { first: String },
    #[error("it looks like a {role} checkpoint, but it has no tensor '{tensor}'")]
    Missing { role: Role, tensor: String },
    #[error(
        "it looks like a {role} checkpoint, but tensor '{tensor}' is {found:?} where \
         {expected:?} belongs"
    )]
    Shape {
        role: Role,
        tensor: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    #[error("it looks like a {role} checkpoint, but tensor '{tensor}' is not part of one")]
    Unexpected { role: Role, tensor: String },
    #[error("it looks like a {role} checkpoint, but {detail}")]
    Inconsistent { role: Role, detail: String },
    #[error("the {role} configuration it is checked against cannot run: {detail}")]
    BadConfig { role: Role, detail: String },
    #[error("it is a {found} checkpoint, but a {wanted} was expected here")]
    WrongRole { found: Role, wanted: Role },
    #[error("its configuration does not match the one given: {detail}")]
    ConfigMismatch { detail: String },
}

/// Whose names a file uses, by the tensors only diffusers' layouts have
/// (for checking a file against a given configuration).
pub fn naming_of(index: &TensorIndex) -> Naming {
    let diffusers = [
        "x_embedder.weight",
        "transformer_blocks.0.attn.to_q.weight",
        "decoder.up_blocks.0.resnets.0.conv1.weight",
        "encoder.down_blocks.0.resnets.0.conv1.weight",
    ];
    if diffusers.iter().any(|name| index.get(name).is_some()) {
        Naming::Diffusers
    } else {
        Naming::Bfl
    }
}

/// Recognizes the checkpoint in `index` (the tensors of file `file`) and
/// checks every tensor against the configuration its shapes imply; a
/// configuration Sculpt cannot run, or cannot infer, is the error.
pub fn detect(file: &str, index: &TensorIndex) -> Result<Checkpoint, CheckpointError> {
    let inconsistent = |role, detail| CheckpointError {
        file: file.into(),
        problem: CheckpointProblem::Inconsistent { role, detail },
    };
    match recognize(file, index)? {
        Recognition::Checked(checkpoint) => Ok(checkpoint),
        Recognition::CannotRun { checkpoint, why } => Err(inconsistent(checkpoint.role(), why)),
        Recognition::NotInferred { role, why, .. } => Err(inconsistent(role, why)),
    }
}

/// What a file holds, as far as its names and shapes tell.
#[derive(Clone, Debug, PartialEq)]
pub enum Recognition {
    /// Role, naming and configuration known; every tensor checked.
    Checked(Checkpoint),
    /// Every tensor matches the configuration its shapes imply, but
    /// Sculpt's kernels cannot run that configuration (yet).
    CannotRun { checkpoint: Checkpoint, why: String },
    /// Role and naming known; the configuration cannot be inferred from the
    /// shapes (it must be given), so the tensors are not checked.
    NotInferred {
        role: Role,
        naming: Naming,
        why: String,
    },
}

/// Recognizes the checkpoint in `index` (the tensors of file `file`) as far
/// as it can: a file that is not a model, or whose tensors do not match the
/// configuration they imply, is the error.
pub fn recognize(file: &str, index: &TensorIndex) -> Result<Recognition, CheckpointError> {
    let error = |problem| CheckpointError {
        file: file.into(),
        problem,
    };
    let first = index
        .tensors()
        .first()
        .ok_or_else(|| error(CheckpointProblem::Empty))?;
    let has = |name: &str| index.get(name).is_some();
    let shapes = Shapes { index };
    let (naming, config) = if has("img_in.weight") || has("double_blocks.0.img_attn.qkv.weight") {
        (Naming::Bfl, shapes.flux_bfl())
    } else if has("x_embedder.weight") || has("transformer_blocks.0.attn.to_q.weight") {
        (Naming::Diffusers, shapes.flux_diffusers())
    } else if has("decoder.up_blocks.0.resnets.0.conv1.weight")
        || has("encoder.down_blocks.0.resnets.0.conv1.weight")
    {
        (Naming::Diffusers, shapes.autoencoder(Naming::Diffusers))
    } else if has("decoder.conv_in.weight") || has("encoder.conv_in.weight") {
        (Naming::Bfl, shapes.autoencoder(Naming::Bfl))
    } else if has("text_model.embeddings.token_embedding.weight") {
        (Naming::Bfl, shapes.clip())
    } else if has("encoder.block.0.layer.0.SelfAttention.q.weight") {
        (Naming::Bfl, shapes.t5())
    } else {
        return Err(error(CheckpointProblem::UnknownModel {
            first: first.name.clone(),
        }));
    };
    let (config, cannot_run) = match config.map_err(error)? {
        Inferred::Runs(config) => (config, None),
        Inferred::CannotRun(config, why) => (config, Some(why)),
        Inferred::Not { role, why } => return Ok(Recognition::NotInferred { role, naming, why }),
    };
    let checkpoint = Checkpoint { naming, config };
    check_tensors(index, &checkpoint).map_err(error)?;
    Ok(match cannot_run {
        None => Recognition::Checked(checkpoint),
        Some(why) => Recognition::CannotRun { checkpoint, why },
    })
}

/// Checks that `index` holds exactly `checkpoint`'s tensors: the first
/// tensor (in file order) that is unknown or mis-shaped, else the first
/// missing one, is the error.
pub fn check_layout(index: &TensorIndex, checkpoint: &Checkpoint) -> Result<(), CheckpointProblem> {
    let role = checkpoint.role();
    checkpoint
        .config
        .validate()
        .map_err(|detail| CheckpointProblem::BadConfig { role, detail })?;
    check_tensors(index, checkpoint)
}

/// The tensor check of [`check_layout`], for a configuration the kernels
/// need not run.
fn check_tensors(index: &TensorIndex, checkpoint: &Checkpoint) -> Result<(), CheckpointProblem> {
    let role = checkpoint.role();
    let layout = checkpoint.config.layout(checkpoint.naming);
    let expected: HashMap<&str, &ExpectedTensor> = layout
        .iter()
        .map(|tensor| (tensor.name.as_str(), tensor))
        .collect();
    for info in index.tensors() {
        let Some(want) = expected.get(info.name.as_str()) else {
            return Err(CheckpointProblem::Unexpected {
                role,
                tensor: info.name.clone(),
            });
        };
        let found: Vec<usize> = info.shape.iter().map(|&dim| dim as usize).collect();
        if found != want.shape {
            return Err(CheckpointProblem::Shape {
                role,
                tensor: info.name.clone(),
                expected: want.shape.clone(),
                found,
            });
        }
    }
    if let Some(missing) = layout
        .iter()
        .find(|tensor| !tensor.optional && index.get(&tensor.name).is_none())
    {
        return Err(CheckpointProblem::Missing {
            role,
            tensor: missing.name.clone(),
        });
    }
    if role == Role::T5
        && index.get("shared.weight").is_none()
        && index.get("encoder.embed_tokens.weight").is_none()
    {
        return Err(CheckpointProblem::Missing {
            role,
            tensor: "shared.weight".into(),
        });
    }
    Ok(())
}

/// Reads dimensions of a file's tensors, a missing one being the error.
struct Shapes<'a> {
    index: &'a TensorIndex,
}

impl Shapes<'_> {
    fn dim(&self, role: Role, name: &str, axis: usize) -> Result<usize, CheckpointProblem> {
        let info = self
            .index
            .get(name)
            .ok_or_else(|| CheckpointProblem::Missing {
                role,
                tensor: name.into(),
            })?;
        info.shape
            .get(axis)
            .map(|&dim| dim as usize)
            .ok_or_else(|| CheckpointProblem::Inconsistent {
                role,
                detail: format!("tensor '{name}' has no dimension {axis}"),
            })
    }

    /// How many numbered children `prefix.N.` has (the largest N + 1; a gap
    /// shows up as a missing tensor when the layout is checked).
    fn count(&self, prefix: &str) -> usize {
        let numbers: BTreeSet<usize> = self
            .index
            .names()
            .filter_map(|name| name.strip_prefix(prefix)?.split('.').next()?.parse().ok())
            .collect();
        numbers.last().map_or(0, |last| last + 1)
    }

    fn has(&self, name: &str) -> bool {
        self.index.get(name).is_some()
    }

    fn flux_bfl(&self) -> Result<Inferred, CheckpointProblem> {
        let role = Role::Transformer;
        let hidden = self.dim(role, "img_in.weight", 0)?;
        flux_config(
            hidden,
            self.dim(role, "img_in.weight", 1)?,
            self.dim(role, "vector_in.in_layer.weight", 1)?,
            self.dim(role, "txt_in.weight", 1)?,
            self.dim(role, "double_blocks.0.img_attn.norm.query_norm.scale", 0)?,
            self.dim(role, "double_blocks.0.img_mlp.0.weight", 0)?,
            self.count("double_blocks."),
            self.count("single_blocks."),
            self.has("double_blocks.0.img_attn.qkv.bias"),
            self.has("guidance_in.in_layer.weight"),
        )
    }

    fn flux_diffusers(&self) -> Result<Inferred, CheckpointProblem> {
        let role = Role::Transformer;
        let hidden = self.dim(role, "x_embedder.weight", 0)?;
        flux_config(
            hidden,
            self.dim(role, "x_embedder.weight", 1)?,
            self.dim(role, "time_text_embed.text_embedder.linear_1.weight", 1)?,
            self.dim(role, "context_embedder.weight", 1)?,
            self.dim(role, "transformer_blocks.0.attn.norm_q.weight", 0)?,
            self.dim(role, "transformer_blocks.0.ff.net.0.proj.weight", 0)?,
            self.count("transformer_blocks."),
            self.count("single_transformer_blocks."),
            self.has("transformer_blocks.0.attn.to_q.bias"),
            self.has("time_text_embed.guidance_embedder.linear_1.weight"),
        )
    }

    fn autoencoder(&self, naming: Naming) -> Result<Inferred, CheckpointProblem> {
        let role = Role::Autoencoder;
        let (levels_prefix, blocks_prefix) = match naming {
            Naming::Bfl => ("encoder.down.", "encoder.down.0.block."),
            Naming::Diffusers => ("encoder.down_blocks.", "encoder.down_blocks.0.resnets."),
        };
        let first_conv = |level: usize| match naming {
            Naming::Bfl => format!("encoder.down.{level}.block.0.conv1.weight"),
            Naming::Diffusers => format!("encoder.down_blocks.{level}.resnets.0.conv1.weight"),
        };
        let ch = self.dim(role, "encoder.conv_in.weight", 0)?;
        let levels = self.count(levels_prefix);
        let ch_mult = (0..levels)
            .map(|level| {
                let width = self.dim(role, &first_conv(level), 0)?;
                if !width.is_multiple_of(ch) {
                    return Err(CheckpointProblem::Inconsistent {
                        role,
                        detail: format!("level {level}'s width {width} is not a multiple of {ch}"),
                    });
                }
                Ok(width / ch)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let flux = AutoEncoderConfig::flux();
        let config = AutoEncoderConfig {
            in_channels: self.dim(role, "encoder.conv_in.weight", 1)?,
            out_channels: self.dim(role, "decoder.conv_out.weight", 0)?,
            ch,
            ch_mult,
            num_res_blocks: self.count(blocks_prefix),
            z_channels: self.dim(role, "decoder.conv_in.weight", 1)?,
            // Not in the weights: FLUX's latent statistics.
            scale_factor: flux.scale_factor,
            shift_factor: flux.shift_factor,
        };
        Ok(Inferred::checked(ModelConfig::Autoencoder(config)))
    }

    fn clip(&self) -> Result<Inferred, CheckpointProblem> {
        let role = Role::Clip;
        let embedding = "text_model.embeddings.token_embedding.weight";
        let hidden_size = self.dim(role, embedding, 1)?;
        let config = ClipTextConfig {
            vocab_size: self.dim(role, embedding, 0)?,
            hidden_size,
            intermediate_size: self.dim(role, "text_model.encoder.layers.0.mlp.fc1.weight", 0)?,
            // Not in the weights: CLIP's heads are 64 wide.
            num_heads: hidden_size / 64,
            num_layers: self.count("text_model.encoder.layers."),
            max_positions: self.dim(role, "text_model.embeddings.position_embedding.weight", 0)?,
        };
        Ok(Inferred::checked(ModelConfig::Clip(config)))
    }

    fn t5(&self) -> Result<Inferred, CheckpointProblem> {
        let role = Role::T5;
        let embedding = if self.has("shared.weight") {
            "shared.weight"
        } else {
            "encoder.embed_tokens.weight"
        };
        let bias = "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight";
        let num_heads = self.dim(role, bias, 1)?;
        let inner = self.dim(role, "encoder.block.0.layer.0.SelfAttention.q.weight", 0)?;
        let config = T5Config {
            vocab_size: self.dim(role, embedding, 0)?,
            d_model: self.dim(role, embedding, 1)?,
            d_kv: inner / num_heads.max(1),
            num_heads,
            d_ff: self.dim(
                role,
                "encoder.block.0.layer.1.DenseReluDense.wi_0.weight",
                0,
            )?,
            num_layers: self.count("encoder.block."),
            relative_attention_num_buckets: self.dim(role, bias, 0)?,
            // Not in the weights: T5's default.
            relative_attention_max_distance: 128,
        };
        Ok(Inferred::checked(ModelConfig::T5(config)))
    }
}

/// The transformer's configuration from its dimensions. The rotary split of
/// a head (`axes_dim`) and θ are not in the weights: FLUX's proportions
/// (1/8 of the head for the index axis, 7/16 for each image axis; θ 10000)
/// are assumed.
#[allow(clippy::too_many_arguments)]
fn flux_config(
    hidden_size: usize,
    in_channels: usize,
    vec_in_dim: usize,
    context_in_dim: usize,
    head_dim: usize,
    mlp_hidden: usize,
    double_blocks: usize,
    single_blocks: usize,
    qkv_bias: bool,
    guidance_embed: bool,
) -> Result<Inferred, CheckpointProblem> {
    let role = Role::Transformer;
    let inconsistent = |detail: String| CheckpointProblem::Inconsistent { role, detail };
    if head_dim == 0 || !hidden_size.is_multiple_of(head_dim) {
        return Err(inconsistent(format!(
            "its QK-norm scale width {head_dim} does not divide its hidden width {hidden_size}"
        )));
    }
    if !head_dim.is_multiple_of(32) {
        return Ok(Inferred::Not {
            role,
            why: format!(
                "its heads are {head_dim} wide, which FLUX's rotary split (1/8, 7/16, 7/16 of \
                 a head, in pairs) does not divide; give its configuration instead"
            ),
        });
    }
    let config = FluxConfig {
        in_channels,
        vec_in_dim,
        context_in_dim,
        hidden_size,
        mlp_ratio: mlp_hidden as f64 / hidden_size as f64,
        num_heads: hidden_size / head_dim,
        double_blocks,
        single_blocks,
        axes_dim: vec![head_dim / 8, head_dim * 7 / 16, head_dim * 7 / 16],
        theta: 10_000.0,
        qkv_bias,
        guidance_embed,
    };
    if config.mlp_hidden() != mlp_hidden {
        return Err(inconsistent(format!(
            "its MLP width {mlp_hidden} is not a ratio of its hidden width {hidden_size}"
        )));
    }
    Ok(Inferred::checked(ModelConfig::Transformer(config)))
}

/// What a file's shapes say of its configuration.
enum Inferred {
    /// A configuration Sculpt's kernels run.
    Runs(ModelConfig),
    /// A configuration they cannot run (yet), and why.
    CannotRun(ModelConfig, String),
    /// Not inferable from the shapes alone, and why.
    Not { role: Role, why: String },
}

impl Inferred {
    fn checked(config: ModelConfig) -> Self {
        match config.validate() {
            Ok(()) => Self::Runs(config),
            Err(why) => Self::CannotRun(config, why),
        }
    }
}
