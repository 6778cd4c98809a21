//! `sculpt forward`: one stage on given inputs, its outputs written to a
//! safetensors file — how Sculpt is compared with PyTorch or candle.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use sculpt_flux::checkpoint::{
    Checkpoint, ModelConfig, Naming, Role, check_layout, detect, naming_of,
};
use sculpt_flux::formats::{
    Dtype, Encoding, FileSource, read_safetensors, read_tensor_bytes, write_f32_safetensors,
};
use sculpt_flux::models::autoencoder::{AutoEncoderConfig, Decoder, DiffusersVaeNames, Encoder};
use sculpt_flux::models::clip::{ClipTextConfig, ClipTextModel};
use sculpt_flux::models::flux1::{DiffusersNames, FluxConfig, FluxInputs, FluxTransformer};
use sculpt_flux::models::t5::{T5Config, T5Encoder};
use sculpt_flux::weights::FileWeights;
use sculpt_gpu::{Gpu, Tensor};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Stage {
    Dit,
    AeDecode,
    AeEncode,
    Clip,
    T5,
}

impl Stage {
    fn role(self) -> Role {
        match self {
            Stage::Dit => Role::Transformer,
            Stage::AeDecode | Stage::AeEncode => Role::Autoencoder,
            Stage::Clip => Role::Clip,
            Stage::T5 => Role::T5,
        }
    }
}

pub const TENSOR_NAMES: &str = "\
Tensor names (inputs F32 unless noted; outputs F32):
  dit        in  img [1, L, 64], txt [1, Lt, context_dim], y [1, vec_dim] (CLIP pooled),
                 t [1] in [0, 1], img_ids [L, 3], txt_ids [Lt, 3], guidance [1] (dev only)
             out out [1, L, 64]
  ae-decode  in  z [1, C, h, w], the latent as the sampler makes it (the stage applies
                 z / scale_factor + shift_factor)
             out x [1, 3, 8h, 8w], about [-1, 1], unclamped
  ae-encode  in  image [1, 3, H, W] in [-1, 1]
             out latent_mean [1, C, H/8, W/8], the encoder's mean before shift and scale
  clip       in  ids [1, n] (I64 or I32)
             out hidden [1, n, d] (after the final layer norm), pooled [1, d]
  t5         in  ids [1, n] (I64 or I32)
             out hidden [1, n, d]";

#[derive(clap::Args)]
#[command(after_help = TENSOR_NAMES)]
pub struct ForwardArgs {
    #[arg(long, value_enum)]
    stage: Stage,
    /// The stage's weights: one safetensors or GGUF file, or the shards of one.
    #[arg(long, num_args = 1.., required = true)]
    weights: Vec<PathBuf>,
    /// The model's configuration: Sculpt's own (the manifest's `config`
    /// entry for the stage) or the public config.json of the diffusers or
    /// transformers layout. Default: inferred from the weights' shapes.
    #[arg(long)]
    config: Option<PathBuf>,
    /// The inputs, a safetensors file (names below).
    #[arg(long)]
    inputs: PathBuf,
    /// Where to write the outputs (safetensors).
    #[arg(long)]
    out: PathBuf,
}

pub fn run(args: ForwardArgs) -> anyhow::Result<()> {
    let role = args.stage.role();
    let mut paths = args.weights.clone();
    paths.sort();
    let sources = paths
        .iter()
        .map(|path| open(path))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let weights = pollster::block_on(FileWeights::open_shards(sources))?;
    let checkpoint = match &args.config {
        None => detect(weights.name(), weights.index())?,
        Some(path) => {
            let config = read_config(path, role)?;
            let checkpoint = Checkpoint {
                naming: naming_of(weights.index()),
                config,
            };
            check_layout(weights.index(), &checkpoint).map_err(|problem| {
                sculpt_flux::checkpoint::CheckpointError {
                    file: weights.name().into(),
                    problem,
                }
            })?;
            checkpoint
        }
    };
    if checkpoint.role() != role {
        bail!(
            "{}: it is a {}, but --stage {:?} needs a {role}",
            weights.name(),
            checkpoint.role(),
            args.stage
        );
    }
    let inputs = Inputs::read(&args.inputs)?;
    let gpu = pollster::block_on(Gpu::new())?;
    let outputs = pollster::block_on(run_stage(&gpu, args.stage, checkpoint, weights, &inputs))?;
    write_outputs(&args.out, &outputs)?;
    eprintln!("wrote {}", args.out.display());
    Ok(())
}

fn open(path: &Path) -> anyhow::Result<FileSource> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    FileSource::new(file, path.display().to_string())
        .with_context(|| format!("cannot read {}", path.display()))
}

type Outputs = Vec<(&'static str, Vec<usize>, Vec<f32>)>;

async fn run_stage(
    gpu: &Gpu,
    stage: Stage,
    checkpoint: Checkpoint,
    mut weights: FileWeights<FileSource>,
    inputs: &Inputs,
) -> anyhow::Result<Outputs> {
    Ok(match (stage, checkpoint.config) {
        (Stage::Dit, ModelConfig::Transformer(config)) => {
            let model = match checkpoint.naming {
                Naming::Bfl => FluxTransformer::load(gpu, config.clone(), &mut weights).await?,
                Naming::Diffusers => {
                    let mut renamed = DiffusersNames::new(weights);
                    FluxTransformer::load(gpu, config.clone(), &mut renamed).await?
                }
            };
            let (img_shape, img) = inputs.f32("img", 3)?;
            let (txt_shape, txt) = inputs.f32("txt", 3)?;
            let (_, y) = inputs.f32("y", 2)?;
            let (_, t) = inputs.f32("t", 1)?;
            let (_, img_ids) = inputs.f32("img_ids", 2)?;
            let (_, txt_ids) = inputs.f32("txt_ids", 2)?;
            let guidance = inputs.optional_f32("guidance")?.map(|values| values[0]);
            let positions = model.positions(gpu, &txt_ids, &img_ids)?;
            let img = Tensor::from_slice(gpu, &img, &img_shape[1..])?;
            let txt = Tensor::from_slice(gpu, &txt, &txt_shape[1..])?;
            let y = Tensor::from_slice(gpu, &y, &[y.len()])?;
            let out = model.forward(
                gpu,
                &FluxInputs {
                    img: &img,
                    txt: &txt,
                    positions: &positions,
                    timestep: t[0],
                    y: &y,
                    guidance,
                },
            )?;
            let shape = [vec![1], out.shape().to_vec()].concat();
            vec![("out", shape, out.to_vec(gpu).await?)]
        }
        (Stage::AeDecode, ModelConfig::Autoencoder(config)) => {
            let decoder = match checkpoint.naming {
                Naming::Bfl => Decoder::load(gpu, config, &mut weights).await?,
                Naming::Diffusers => {
                    let levels = config.ch_mult.len();
                    let mut renamed = DiffusersVaeNames::new(weights, levels);
                    Decoder::load(gpu, config, &mut renamed).await?
                }
            };
            let (shape, z) = inputs.f32("z", 4)?;
            let z = Tensor::from_slice(gpu, &z, &shape[1..])?;
            let x = decoder.decode(gpu, &z)?;
            let shape = [vec![1], x.shape().to_vec()].concat();
            vec![("x", shape, x.to_vec(gpu).await?)]
        }
        (Stage::AeEncode, ModelConfig::Autoencoder(config)) => {
            let encoder = match checkpoint.naming {
                Naming::Bfl => Encoder::load(gpu, config, &mut weights).await?,
                Naming::Diffusers => {
                    let levels = config.ch_mult.len();
                    let mut renamed = DiffusersVaeNames::new(weights, levels);
                    Encoder::load(gpu, config, &mut renamed).await?
                }
            };
            let (shape, image) = inputs.f32("image", 4)?;
            let image = Tensor::from_slice(gpu, &image, &shape[1..])?;
            let mean = encoder.forward(gpu, &image)?;
            let shape = [vec![1], mean.shape().to_vec()].concat();
            vec![("latent_mean", shape, mean.to_vec(gpu).await?)]
        }
        (Stage::Clip, ModelConfig::Clip(config)) => {
            let model = ClipTextModel::load(gpu, config, &mut weights).await?;
            let ids = inputs.ids()?;
            let (hidden, pooled) = model.forward(gpu, &ids)?;
            let hidden_shape = [vec![1], hidden.shape().to_vec()].concat();
            vec![
                ("hidden", hidden_shape, hidden.to_vec(gpu).await?),
                (
                    "pooled",
                    vec![1, pooled.elem_count()],
                    pooled.to_vec(gpu).await?,
                ),
            ]
        }
        (Stage::T5, ModelConfig::T5(config)) => {
            let model = T5Encoder::load(gpu, config, &mut weights).await?;
            let ids = inputs.ids()?;
            let hidden = model.forward(gpu, &ids)?;
            let shape = [vec![1], hidden.shape().to_vec()].concat();
            vec![("hidden", shape, hidden.to_vec(gpu).await?)]
        }
        (stage, config) => bail!("--stage {stage:?} cannot run a {}", config.role()),
    })
}

/// The stage's configuration from `path`: Sculpt's own field names, or the
/// public config.json of the diffusers (transformer, autoencoder) or
/// transformers (CLIP, T5) layout.
fn read_config(path: &Path, role: Role) -> anyhow::Result<ModelConfig> {
    let json = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let value: serde_json::Value =
        serde_json::from_slice(&json).with_context(|| format!("{} is not JSON", path.display()))?;
    let own = match role {
        Role::Transformer => serde_json::from_value(value.clone()).map(ModelConfig::Transformer),
        Role::Autoencoder => serde_json::from_value(value.clone()).map(ModelConfig::Autoencoder),
        Role::Clip => serde_json::from_value(value.clone()).map(ModelConfig::Clip),
        Role::T5 => serde_json::from_value(value.clone()).map(ModelConfig::T5),
    };
    if let Ok(config) = own {
        return Ok(config);
    }
    public_config(&value, role).with_context(|| {
        format!(
            "{} is neither Sculpt's {role} configuration nor the public config.json of one",
            path.display()
        )
    })
}

fn public_config(value: &serde_json::Value, role: Role) -> anyhow::Result<ModelConfig> {
    let number = |key: &str| {
        value[key]
            .as_u64()
            .map(|n| n as usize)
            .ok_or_else(|| anyhow!("no number \"{key}\""))
    };
    let float = |key: &str| {
        value[key]
            .as_f64()
            .ok_or_else(|| anyhow!("no number \"{key}\""))
    };
    let list = |key: &str| -> anyhow::Result<Vec<usize>> {
        value[key]
            .as_array()
            .ok_or_else(|| anyhow!("no list \"{key}\""))?
            .iter()
            .map(|n| {
                n.as_u64()
                    .map(|n| n as usize)
                    .ok_or_else(|| anyhow!("\"{key}\" holds a non-number"))
            })
            .collect()
    };
    Ok(match role {
        // diffusers' FluxTransformer2DModel.
        Role::Transformer => {
            let heads = number("num_attention_heads")?;
            ModelConfig::Transformer(FluxConfig {
                in_channels: number("in_channels")?,
                vec_in_dim: number("pooled_projection_dim")?,
                context_in_dim: number("joint_attention_dim")?,
                hidden_size: heads * number("attention_head_dim")?,
                mlp_ratio: 4.0,
                num_heads: heads,
                double_blocks: number("num_layers")?,
                single_blocks: number("num_single_layers")?,
                axes_dim: list("axes_dims_rope")?,
                theta: 10_000.0,
                qkv_bias: true,
                guidance_embed: value["guidance_embeds"].as_bool().unwrap_or(false),
            })
        }
        // diffusers' AutoencoderKL.
        Role::Autoencoder => {
            let widths = list("block_out_channels")?;
            let ch = *widths
                .first()
                .ok_or_else(|| anyhow!("\"block_out_channels\" is empty"))?;
            ModelConfig::Autoencoder(AutoEncoderConfig {
                in_channels: number("in_channels")?,
                out_channels: number("out_channels")?,
                ch,
                ch_mult: widths.iter().map(|w| w / ch.max(1)).collect(),
                num_res_blocks: number("layers_per_block")?,
                z_channels: number("latent_channels")?,
                scale_factor: float("scaling_factor")? as f32,
                shift_factor: float("shift_factor")? as f32,
            })
        }
        // transformers' CLIPTextConfig.
        Role::Clip => ModelConfig::Clip(ClipTextConfig {
            vocab_size: number("vocab_size")?,
            hidden_size: number("hidden_size")?,
            intermediate_size: number("intermediate_size")?,
            num_heads: number("num_attention_heads")?,
            num_layers: number("num_hidden_layers")?,
            max_positions: number("max_position_embeddings")?,
        }),
        // transformers' T5Config.
        Role::T5 => ModelConfig::T5(T5Config {
            vocab_size: number("vocab_size")?,
            d_model: number("d_model")?,
            d_kv: number("d_kv")?,
            num_heads: number("num_heads")?,
            d_ff: number("d_ff")?,
            num_layers: number("num_layers")?,
            relative_attention_num_buckets: number("relative_attention_num_buckets")?,
            relative_attention_max_distance: number("relative_attention_max_distance")?,
        }),
    })
}

/// The tensors of the inputs file.
struct Inputs {
    name: String,
    tensors: BTreeMap<String, (Vec<usize>, Dtype, Vec<u8>)>,
}

impl Inputs {
    fn read(path: &Path) -> anyhow::Result<Self> {
        let mut source = open(path)?;
        let file = pollster::block_on(read_safetensors(&mut source))?;
        let mut tensors = BTreeMap::new();
        for info in file.index.tensors() {
            let Encoding::Plain(dtype) = info.encoding else {
                unreachable!("safetensors holds plain dtypes")
            };
            let bytes = pollster::block_on(read_tensor_bytes(&mut source, info))?;
            let shape = info.shape.iter().map(|&d| d as usize).collect();
            tensors.insert(info.name.clone(), (shape, dtype, bytes));
        }
        Ok(Self {
            name: path.display().to_string(),
            tensors,
        })
    }

    fn optional_f32(&self, name: &str) -> anyhow::Result<Option<Vec<f32>>> {
        let Some((_, dtype, bytes)) = self.tensors.get(name) else {
            return Ok(None);
        };
        if *dtype != Dtype::F32 {
            bail!("{}: input '{name}' is {dtype}; it must be F32", self.name);
        }
        if bytes.is_empty() {
            bail!("{}: input '{name}' is empty", self.name);
        }
        Ok(Some(
            bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        ))
    }

    /// F32 input `name` of `rank` dimensions: its shape and values.
    fn f32(&self, name: &str, rank: usize) -> anyhow::Result<(Vec<usize>, Vec<f32>)> {
        let values = self
            .optional_f32(name)?
            .ok_or_else(|| anyhow!("{}: there is no input '{name}'", self.name))?;
        let shape = self.tensors[name].0.clone();
        if shape.len() != rank
            || (rank >= 2 && name != "img_ids" && name != "txt_ids" && shape[0] != 1)
        {
            bail!(
                "{}: input '{name}' is {shape:?}; see `sculpt forward --help` for its shape",
                self.name
            );
        }
        Ok((shape, values))
    }

    /// The token ids [1, n], I64 or I32.
    fn ids(&self) -> anyhow::Result<Vec<u32>> {
        let (shape, dtype, bytes) = self
            .tensors
            .get("ids")
            .ok_or_else(|| anyhow!("{}: there is no input 'ids'", self.name))?;
        if shape.len() != 2 || shape[0] != 1 {
            bail!("{}: input 'ids' is {shape:?}, not [1, n]", self.name);
        }
        let wide: Vec<i64> = match dtype {
            Dtype::I64 => bytes
                .chunks_exact(8)
                .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")))
                .collect(),
            Dtype::I32 => bytes
                .chunks_exact(4)
                .map(|b| i64::from(i32::from_le_bytes(b.try_into().expect("4 bytes"))))
                .collect(),
            other => bail!(
                "{}: input 'ids' is {other}; it must be I64 or I32",
                self.name
            ),
        };
        wide.into_iter()
            .map(|id| {
                u32::try_from(id)
                    .map_err(|_| anyhow!("{}: token id {id} is out of range", self.name))
            })
            .collect()
    }
}

fn write_outputs(path: &Path, outputs: &Outputs) -> anyhow::Result<()> {
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    write_f32_safetensors(
        &mut std::io::BufWriter::new(file),
        outputs
            .iter()
            .map(|(name, shape, values)| (*name, shape.as_slice(), values.as_slice())),
    )?;
    Ok(())
}
