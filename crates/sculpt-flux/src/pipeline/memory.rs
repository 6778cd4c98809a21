//! The memory plan: before anything is loaded, how many bytes each stage's
//! weights take on the GPU and how large its activations get at the
//! requested image size, checked against the device's buffer limits.
//!
//! Stages run one after another: the text encoders, each loaded, run and
//! dropped before the next, then the transformer denoises with the autoencoder beside it (it draws
//! the final image and, for image-to-image, encodes the start image). Between two steps the preview
//! decoder draws the step: a convolution and depth to space whose activations are two images'
//! planes, far below a step's, so previews add nothing to the peak; the full decoder's activations
//! are needed once, at the end. So the peak is the larger of the two phases.
//!
//! Activation sizes are estimates of the live f32 tensors at a stage's
//! widest point (its formula is stated where it is computed); weights are
//! exact for the GPU form the loader gives them: linear weights in their
//! storage format repacked to whole words, everything else f32.

use std::fmt;

use sculpt_gpu::{Gpu, format_bytes};

use std::collections::BTreeMap;

use crate::checkpoint::{ModelConfig, Role};
use crate::family::{Family, ModelConfigs};
use crate::models::autoencoder::{AutoEncoderConfig, channel_slice_count};

const F32: u64 = 4;

/// The device limits a plan is checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceLimits {
    /// The largest buffer the device creates.
    pub max_buffer_size: u64,
    /// The largest storage binding a kernel reads or writes.
    pub max_storage_binding: u64,
    /// Memory the stages may use together, when known (WebGPU does not tell;
    /// a caller may pass what the user or the platform says).
    pub memory_budget: Option<u64>,
}

impl DeviceLimits {
    pub fn of(gpu: &Gpu) -> Self {
        let limits = gpu.device.limits();
        Self {
            max_buffer_size: limits.max_buffer_size,
            max_storage_binding: limits.max_storage_buffer_binding_size,
            memory_budget: None,
        }
    }
}

/// One stage of a generation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StagePlan {
    pub role: Role,
    pub weight_bytes: u64,
    /// The live activations at the stage's widest point (an estimate).
    pub activation_bytes: u64,
    /// The largest single activation tensor, which must fit one binding.
    pub largest_activation: u64,
}

/// What a generation of one size needs, stage by stage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryPlan {
    pub width: usize,
    pub height: usize,
    pub stages: Vec<StagePlan>,
    pub limits: DeviceLimits,
    /// A step preview's activations: the latent, the convolution's output
    /// and the image (see [`crate::models::preview`]).
    pub preview_bytes: u64,
    /// The most the stages hold at once (see the module documentation).
    pub peak_bytes: u64,
    /// Why the plan does not fit; empty when it does.
    pub problems: Vec<String>,
}

impl MemoryPlan {
    pub fn fits(&self) -> bool {
        self.problems.is_empty()
    }

    pub fn stage(&self, role: Role) -> Option<&StagePlan> {
        self.stages.iter().find(|stage| stage.role == role)
    }
}

/// The models of a generation and their weights' GPU bytes.
pub struct PlanModels<'a> {
    pub family: &'a Family,
    /// Checked against `family`.
    pub configs: &'a ModelConfigs,
    /// Each model's weights on the GPU (a model not listed counts none).
    pub weight_bytes: &'a BTreeMap<Role, u64>,
    /// Tokens the T5 tokenizer pads the prompt to.
    pub t5_tokens: usize,
    /// Whether the autoencoder's encoder runs (image-to-image).
    pub encodes_image: bool,
}

/// Plans a `width` × `height` generation (both multiples of 16).
pub fn plan_memory(
    models: &PlanModels,
    width: usize,
    height: usize,
    limits: DeviceLimits,
) -> MemoryPlan {
    let (w, h) = (width as u64, height as u64);
    let weights = |role: Role| models.weight_bytes.get(&role).copied().unwrap_or(0);
    let text_stages: Vec<StagePlan> = models
        .family
        .text_encoders
        .iter()
        .filter_map(|stage| models.configs.get(stage.role))
        .map(|config| text_stage(config, weights(config.role()), models.t5_tokens))
        .collect();
    let binding = limits.max_storage_binding.min(limits.max_buffer_size);
    let autoencoder_config = models.configs.autoencoder();
    let transformer = {
        let config = models.configs.transformer();
        // One token per 2×2 patch of latent pixels, then the text's.
        let patch = 2 * autoencoder_config.pixels_per_latent() as u64;
        let text_tokens = models.family.text_tokens(models.t5_tokens) as u64;
        let tokens = (w / patch) * (h / patch) + text_tokens;
        let (hidden, mlp) = (config.hidden_size as u64, config.mlp_hidden() as u64);
        // The MLPs run in token chunks that fit a binding (see
        // `models::flux1::token_chunks`); everything else is [tokens, hidden].
        let chunk_tokens = tokens.min((binding / (mlp * F32)).max(1));
        let mlp_chunk = chunk_tokens * mlp * F32;
        // The widest point is a single block: its input and normed input,
        // q, k, v, the attention output and its projection, the MLP's
        // output and the block's; the MLP's chunk before and after GELU.
        StagePlan {
            role: Role::Transformer,
            weight_bytes: weights(Role::Transformer),
            activation_bytes: tokens * 9 * hidden * F32 + 2 * mlp_chunk,
            largest_activation: (tokens * hidden * F32).max(mlp_chunk),
        }
    };
    let autoencoder = {
        let config = autoencoder_config;
        let activations = autoencoder_activations(config, w, h, models.encodes_image);
        let whole = |&(channels, pixels): &(u64, u64)| channels * pixels * F32;
        let largest = activations.iter().map(whole).max().unwrap_or(0);
        // Activations are cut into channel slices to fit a binding (see
        // `autoencoder::slices`); the mid block's attention is not, and its
        // packed q, k, v [latent pixels, 3 · channels] is its widest tensor.
        let largest_slice = activations
            .iter()
            .map(|&(channels, pixels)| {
                let plane = pixels * F32;
                let count = channel_slice_count(channels as usize, plane, binding)
                    .unwrap_or_else(|finest| finest);
                channels / count as u64 * plane
            })
            .max()
            .unwrap_or(0);
        let scale = config.pixels_per_latent() as u64;
        let latent_pixels = (w / scale) * (h / scale);
        let attention_qkv = latent_pixels * 3 * config.bottom_channels() as u64 * F32;
        // A resnet block at the widest level holds its input, the normed
        // input, the first convolution's output and the shortcut.
        StagePlan {
            role: Role::Autoencoder,
            weight_bytes: weights(Role::Autoencoder),
            activation_bytes: 4 * largest,
            largest_activation: largest_slice.max(attention_qkv),
        }
    };
    // Each text encoder is loaded, run and dropped before the next.
    let text_phase = text_stages
        .iter()
        .map(|s| s.weight_bytes + s.activation_bytes)
        .max()
        .unwrap_or(0);
    // A preview's convolution writes 3·f² values per latent pixel, as many
    // as the image's planes, then the image itself.
    let preview_bytes = {
        let scale = autoencoder_config.pixels_per_latent() as u64;
        let latent = autoencoder_config.z_channels as u64 * (w / scale) * (h / scale);
        (latent + 2 * 3 * w * h) * F32
    };
    let image_phase = transformer.weight_bytes
        + autoencoder.weight_bytes
        + transformer
            .activation_bytes
            .max(autoencoder.activation_bytes)
            .max(preview_bytes);
    let peak_bytes = text_phase.max(image_phase);
    let mut stages = text_stages;
    stages.extend([transformer, autoencoder]);

    let mut problems = Vec::new();
    for stage in &stages {
        if stage.largest_activation > binding {
            problems.push(format!(
                "the {}'s largest activation tensor at {width}x{height} takes {}, more than \
                 the {} one GPU buffer binding may hold on this device",
                stage.role,
                format_bytes(stage.largest_activation),
                format_bytes(binding)
            ));
        }
    }
    if let Some(budget) = limits.memory_budget
        && peak_bytes > budget
    {
        problems.push(format!(
            "generating at {width}x{height} needs about {} at once, more than the {} budget",
            format_bytes(peak_bytes),
            format_bytes(budget)
        ));
    }
    MemoryPlan {
        width,
        height,
        stages,
        limits,
        preview_bytes,
        peak_bytes,
        problems,
    }
}

/// A text encoder's stage: the CLIP-L or T5 run on one prompt's tokens.
fn text_stage(config: &ModelConfig, weight_bytes: u64, t5_tokens: usize) -> StagePlan {
    match config {
        ModelConfig::Clip(config) => {
            let (tokens, d, mlp) = (
                config.max_positions as u64,
                config.hidden_size as u64,
                config.intermediate_size as u64,
            );
            // Residual, normed, q, k, v, attention out; MLP hidden before
            // and after its activation.
            StagePlan {
                role: Role::Clip,
                weight_bytes,
                activation_bytes: tokens * (6 * d + 2 * mlp) * F32,
                largest_activation: tokens * mlp.max(d) * F32,
            }
        }
        ModelConfig::T5(config) => {
            let tokens = t5_tokens as u64;
            let (d, inner, ff) = (
                config.d_model as u64,
                config.inner_dim() as u64,
                config.d_ff as u64,
            );
            let bias = config.num_heads as u64 * (2 * tokens).saturating_sub(1);
            // Residual, normed, output; q, k, v, attention; gate, up, product.
            StagePlan {
                role: Role::T5,
                weight_bytes,
                activation_bytes: (tokens * (3 * d + 4 * inner + 3 * ff) + bias) * F32,
                largest_activation: tokens * ff.max(inner).max(d) * F32,
            }
        }
        ModelConfig::Transformer(_) | ModelConfig::Autoencoder(_) => {
            unreachable!("families validate that text encoders are text models")
        }
    }
}

/// The autoencoder's activations as (channels, pixels): each level's
/// channels at its size, over the decoder's levels (each upsampled output
/// has the coarser level's channels at the finer level's size) and, when
/// it runs, the encoder's first level at full size.
fn autoencoder_activations(
    config: &AutoEncoderConfig,
    width: u64,
    height: u64,
    encodes: bool,
) -> Vec<(u64, u64)> {
    let levels = config.ch_mult.len();
    if levels == 0 {
        return Vec::new();
    }
    let scale = 1u64 << (levels - 1);
    let (latent_w, latent_h) = (width / scale, height / scale);
    let pixels = |level: usize| {
        let factor = 1u64 << (levels - 1 - level);
        latent_w * factor * latent_h * factor
    };
    let channels = |level: usize| (config.ch * config.ch_mult[level]) as u64;
    let mut activations = Vec::new();
    for level in 0..levels {
        activations.push((channels(level), pixels(level)));
        if level > 0 {
            activations.push((channels(level), pixels(level - 1)));
        }
    }
    if encodes {
        activations.push((config.ch as u64, width * height));
    }
    activations
}

impl fmt::Display for MemoryPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "memory plan for {}x{}:", self.width, self.height)?;
        for stage in &self.stages {
            writeln!(
                f,
                "  {:<17} weights {:>10}  activations {:>10}  largest tensor {:>10}",
                stage.role.name(),
                format_bytes(stage.weight_bytes),
                format_bytes(stage.activation_bytes),
                format_bytes(stage.largest_activation)
            )?;
        }
        writeln!(
            f,
            "  step previews: activations {}",
            format_bytes(self.preview_bytes)
        )?;
        writeln!(
            f,
            "  peak (one phase at a time): {}",
            format_bytes(self.peak_bytes)
        )?;
        if self.fits() {
            writeln!(f, "  fits this device")
        } else {
            for problem in &self.problems {
                writeln!(f, "  does not fit: {problem}")?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::clip::ClipTextConfig;
    use crate::models::flux1::FluxConfig;
    use crate::models::t5::T5Config;

    const LIMITS: DeviceLimits = DeviceLimits {
        max_buffer_size: 4 << 30,
        max_storage_binding: 2 << 30,
        memory_budget: None,
    };

    /// FLUX.1 schnell's plan for `size`², its models' GPU weight bytes
    /// given in pipeline order (transformer, autoencoder, CLIP, T5).
    fn schnell_plan(weights: [u64; 4], size: usize, limits: DeviceLimits) -> MemoryPlan {
        let configs = ModelConfigs::new([
            ModelConfig::Transformer(FluxConfig::schnell()),
            ModelConfig::Autoencoder(AutoEncoderConfig::flux()),
            ModelConfig::Clip(ClipTextConfig::vit_l_14()),
            ModelConfig::T5(T5Config::v1_1_xxl()),
        ]);
        let weight_bytes = Role::ALL.into_iter().zip(weights).collect();
        let models = PlanModels {
            family: &crate::family::flux1(),
            configs: &configs,
            weight_bytes: &weight_bytes,
            t5_tokens: 256,
            encodes_image: false,
        };
        plan_memory(&models, size, size, limits)
    }

    #[test]
    fn schnell_at_1024_by_hand() {
        let weights = [1 << 30, 1 << 20, 1 << 20, 1 << 20];
        let plan_at = |size, limits| schnell_plan(weights, size, limits);
        let limits = LIMITS;
        let plan = plan_at(1024, limits);
        // 4096 image + 256 text tokens; the MLP's 12288 features are the
        // widest, all tokens at once in a 2 GiB binding.
        let dit = plan.stage(Role::Transformer).unwrap();
        assert_eq!(dit.largest_activation, 4352 * 12288 * 4);
        assert_eq!(
            dit.activation_bytes,
            4352 * 9 * 3072 * 4 + 2 * 4352 * 12288 * 4
        );
        // The decoder's widest tensor: level 1's 256 channels upsampled to
        // the full 1024² (1 GiB), whole in a 2 GiB binding.
        let ae = plan.stage(Role::Autoencoder).unwrap();
        assert_eq!(ae.largest_activation, 1024 * 1024 * 256 * 4);
        assert_eq!(ae.activation_bytes, 4 * 1024 * 1024 * 256 * 4);
        assert!(plan.fits(), "{plan}");
        // A step preview: the 16 × 128² latent, then 192 × 128² values and
        // the 3 × 1024² image (25 MiB), below a step's activations, so the
        // peak is the same as without previews.
        assert_eq!(
            plan.preview_bytes,
            (16 * 128 * 128 + 2 * 3 * 1024 * 1024) * 4
        );
        assert!(plan.preview_bytes < dit.activation_bytes);
        let denoising = (1 << 30) + (1 << 20) + ae.activation_bytes.max(dit.activation_bytes);
        assert_eq!(plan.peak_bytes, denoising);

        // WebGPU's default 128 MiB binding: the autoencoder cuts that tensor
        // into 8 slices of 32 channels (128 MiB each); the MLPs run on 2730
        // tokens at a time (2730 · 12288 f32 ≤ 128 MiB < 2731 · 12288).
        let small = DeviceLimits {
            max_storage_binding: 128 << 20,
            ..limits
        };
        let plan = plan_at(1024, small);
        assert!(plan.fits(), "{plan}");
        let ae = plan.stage(Role::Autoencoder).unwrap();
        assert_eq!(ae.largest_activation, 32 * 1024 * 1024 * 4);
        let dit = plan.stage(Role::Transformer).unwrap();
        assert_eq!(dit.largest_activation, 2730 * 12288 * 4);

        // At 512² the autoencoder's 256 MiB tensor takes 2 slices of 128
        // channels, exactly 128 MiB each.
        let plan = plan_at(512, small);
        assert!(plan.fits(), "{plan}");
        let ae = plan.stage(Role::Autoencoder).unwrap();
        assert_eq!(ae.largest_activation, 128 * 512 * 512 * 4);

        // Below 16 MiB the mid block's attention (128² latent pixels × 3 ·
        // 512 channels at 1024², 96 MiB) cannot fit, and below 32 MiB the
        // finest cut (8 channels of 1024²) of level 1's upsampled output.
        let tiny = DeviceLimits {
            max_storage_binding: 16 << 20,
            ..limits
        };
        let plan = plan_at(1024, tiny);
        let ae = plan.stage(Role::Autoencoder).unwrap();
        assert_eq!(ae.largest_activation, 128 * 128 * 3 * 512 * 4);
        assert!(
            plan.problems.iter().any(|p| p.contains("FLUX autoencoder")),
            "{plan}"
        );

        let budget = DeviceLimits {
            memory_budget: Some(1 << 30),
            ..limits
        };
        let plan = plan_at(512, budget);
        assert!(plan.problems.iter().any(|p| p.contains("budget")), "{plan}");
    }

    #[test]
    fn the_text_encoders_are_held_one_at_a_time() {
        // A T5 far larger than everything else: the peak is T5 alone.
        let plan = schnell_plan([1 << 20, 1 << 20, 1 << 30, 8 << 30], 256, LIMITS);
        // T5 XXL over 256 tokens: 3·4096 + 4·4096 + 3·10240 f32 per token
        // and 64 heads' position bias over 511 distances.
        let t5_activations = (256 * (3 * 4096 + 4 * 4096 + 3 * 10240) + 64 * 511) * 4;
        assert_eq!(
            plan.stage(Role::T5).unwrap().activation_bytes,
            t5_activations
        );
        assert_eq!(plan.peak_bytes, (8 << 30) + t5_activations);
    }
}
