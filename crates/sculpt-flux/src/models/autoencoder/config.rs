//! The shape of a FLUX autoencoder: widths per level, depth, latent size,
//! and the affine map between the autoencoder's latent and the
//! transformer's.

use crate::models::flux1::FluxError;
use crate::models::oversized;

/// Every GroupNorm of the autoencoder splits its channels into 32 groups.
pub const GROUP_NORM_GROUPS: usize = 32;
pub const GROUP_NORM_EPS: f32 = 1e-6;
/// The most levels (channel multipliers) an autoencoder may have: 15
/// halvings already take a 16,384-pixel side to one pixel.
const MAX_LEVELS: usize = 16;

/// Everything that sizes a FLUX autoencoder; the weights fill it in.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoEncoderConfig {
    /// Image channels the encoder reads (RGB).
    pub in_channels: usize,
    /// Image channels the decoder writes (RGB).
    pub out_channels: usize,
    /// Width of the first (full-resolution) level.
    pub ch: usize,
    /// Width of each level as a multiple of `ch`, full resolution first;
    /// every level but the last halves the resolution on the way down.
    pub ch_mult: Vec<usize>,
    /// Resnet blocks per level in the encoder (the decoder has one more).
    pub num_res_blocks: usize,
    /// Latent channels.
    pub z_channels: usize,
    /// The transformer works on `(z − shift_factor) · scale_factor`, where z
    /// is the autoencoder's latent: it brings latents to unit variance.
    pub scale_factor: f32,
    pub shift_factor: f32,
}

impl AutoEncoderConfig {
    /// The autoencoder of FLUX.1 schnell and dev (the same weights).
    pub fn flux() -> Self {
        Self {
            in_channels: 3,
            out_channels: 3,
            ch: 128,
            ch_mult: vec![1, 2, 4, 4],
            num_res_blocks: 2,
            z_channels: 16,
            scale_factor: 0.3611,
            shift_factor: 0.1159,
        }
    }

    /// The same structure at a size a CPU reference runs in moments: widths
    /// 32 and 64 (GroupNorm's 32 groups need multiples of 32), and four
    /// levels as in FLUX so that images are 8× their latents, with a
    /// different width at the top level than at the bottom so that the
    /// shortcut convolutions between widths are exercised.
    pub fn tiny() -> Self {
        Self {
            in_channels: 3,
            out_channels: 3,
            ch: 32,
            ch_mult: vec![1, 2, 2, 1],
            num_res_blocks: 1,
            z_channels: 16,
            ..Self::flux()
        }
    }

    /// How many times the encoder halves the image (3 for FLUX: 8×).
    pub fn downsamplings(&self) -> usize {
        self.ch_mult.len().saturating_sub(1)
    }

    /// Image pixels per latent pixel along each side.
    pub fn pixels_per_latent(&self) -> usize {
        1 << self.downsamplings()
    }

    /// Width of level `level`.
    pub fn level_channels(&self, level: usize) -> usize {
        self.ch * self.ch_mult[level]
    }

    /// Width of the lowest level, where the attention block works.
    pub fn bottom_channels(&self) -> usize {
        self.ch * self.ch_mult.last().copied().unwrap_or(1)
    }

    /// Checks what GroupNorm and the attention kernel need of the shape.
    pub fn validate(&self) -> Result<(), FluxError> {
        let sizes = [
            ("in_channels", self.in_channels),
            ("out_channels", self.out_channels),
            ("ch", self.ch),
            ("num_res_blocks", self.num_res_blocks),
            ("z_channels", self.z_channels),
        ];
        let levels = self.ch_mult.iter().map(|&m| ("a channel multiplier", m));
        let problem = if let Some(problem) = oversized(sizes.into_iter().chain(levels)) {
            Some(problem)
        } else if self.ch_mult.len() > MAX_LEVELS {
            Some(format!(
                "{} levels: an autoencoder of more than {MAX_LEVELS} would shrink an image \
                 below one pixel",
                self.ch_mult.len()
            ))
        } else if self.ch_mult.is_empty() || self.ch_mult.contains(&0) {
            Some(format!(
                "channel multipliers {:?} need at least one level, none of width 0",
                self.ch_mult
            ))
        } else if (0..self.ch_mult.len())
            .any(|level| !self.level_channels(level).is_multiple_of(GROUP_NORM_GROUPS))
        {
            Some(format!(
                "every level's width (ch {} × {:?}) must be a multiple of GroupNorm's {} groups",
                self.ch, self.ch_mult, GROUP_NORM_GROUPS
            ))
        } else if self.bottom_channels() > 2048 {
            Some(format!(
                "the attention block's {} channels exceed the attention kernel's 2048",
                self.bottom_channels()
            ))
        } else if self.in_channels == 0 || self.out_channels == 0 || self.z_channels == 0 {
            Some("the image and the latent need at least one channel".into())
        } else if self.scale_factor == 0.0 || !self.scale_factor.is_finite() {
            Some(format!(
                "scale factor {} cannot be inverted",
                self.scale_factor
            ))
        } else {
            None
        };
        match problem {
            Some(problem) => Err(FluxError::Config(problem)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flux_and_tiny_are_valid_and_scale_by_eight() {
        for config in [AutoEncoderConfig::flux(), AutoEncoderConfig::tiny()] {
            config.validate().unwrap();
            assert_eq!(config.pixels_per_latent(), 8);
        }
        assert_eq!(AutoEncoderConfig::flux().bottom_channels(), 512);
    }

    #[test]
    fn widths_groupnorm_cannot_split_are_refused() {
        let narrow = AutoEncoderConfig {
            ch: 48,
            ..AutoEncoderConfig::tiny()
        };
        let no_levels = AutoEncoderConfig {
            ch_mult: vec![],
            ..AutoEncoderConfig::tiny()
        };
        for config in [narrow, no_levels] {
            assert!(matches!(config.validate(), Err(FluxError::Config(_))));
        }
    }
}
