//! What a request asks of a run, worked out before any model runs: the
//! latent's shape, every time of the schedule, guidance. Both pipelines
//! start from it, so a request means the same on every backend.

use crate::family::ModelConfigs;
use crate::models::autoencoder::AutoEncoderConfig;
use crate::pipeline::{
    DEFAULT_GUIDANCE, GenerateRequest, ImageStart, ModelDefaults, PipelineError,
};
use crate::schedule::{from_time, image_to_image_start, timesteps};

/// The autoencoder's latent for one image size, and its packing into the
/// transformer's image tokens (2×2 patches).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LatentShape {
    pub channels: usize,
    /// The latent's rows and columns (the image's, divided by
    /// `pixels_per_latent`).
    pub height: usize,
    pub width: usize,
    pub pixels_per_latent: usize,
}

impl LatentShape {
    /// The latent of a `width` × `height` image (both multiples of 16, as
    /// requests are checked to be).
    pub fn of_image(autoencoder: &AutoEncoderConfig, width: usize, height: usize) -> Self {
        let pixels_per_latent = autoencoder.pixels_per_latent();
        Self {
            channels: autoencoder.z_channels,
            height: height / pixels_per_latent,
            width: width / pixels_per_latent,
            pixels_per_latent,
        }
    }

    /// Rows and columns of image tokens.
    pub fn token_grid(&self) -> (usize, usize) {
        (self.height / 2, self.width / 2)
    }

    pub fn tokens(&self) -> usize {
        let (rows, cols) = self.token_grid();
        rows * cols
    }

    /// [width, height] of the decoded image.
    pub fn image_size(&self) -> [usize; 2] {
        [
            self.width * self.pixels_per_latent,
            self.height * self.pixels_per_latent,
        ]
    }
}

/// A checked request, resolved against the model's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct RunPlan {
    pub shape: LatentShape,
    /// Every time the run visits, from its start down to 0: `steps + 1`
    /// times from pure noise, fewer from a start image.
    pub schedule: Vec<f64>,
    /// The model's whole schedule for the requested steps (from t = 1),
    /// which a run restarted at another time follows.
    pub full_schedule: Vec<f64>,
    pub seed: u64,
    /// True CFG's scale, `v_u + s·(v_c − v_u)`, when the request or the
    /// model asks for it.
    pub cfg_scale: Option<f32>,
    /// dev's embedded guidance, for models that take it.
    pub guidance: Option<f32>,
}

impl RunPlan {
    /// Checks `request` and resolves it for a model with `defaults` and
    /// `configs`.
    pub fn new(
        request: &GenerateRequest,
        defaults: &ModelDefaults,
        configs: &ModelConfigs,
    ) -> Result<Self, PipelineError> {
        request.validate()?;
        let shape = LatentShape::of_image(configs.autoencoder(), request.width, request.height);
        let guidance_embed = configs.transformer().guidance_embed;
        let full_schedule = timesteps(request.steps, defaults.schedule_shift, shape.tokens());
        let schedule = match request.init_image.as_ref().map(|image| image.start) {
            None => full_schedule.clone(),
            Some(ImageStart::Strength(strength)) => {
                let first = image_to_image_start(&full_schedule, f64::from(strength));
                full_schedule[first..].to_vec()
            }
            Some(ImageStart::Time(t)) => from_time(&full_schedule, t),
        };
        Ok(Self {
            shape,
            schedule,
            full_schedule,
            seed: request.seed,
            cfg_scale: request.cfg_scale.or(defaults.cfg_scale),
            guidance: guidance_embed.then(|| request.guidance.unwrap_or(DEFAULT_GUIDANCE)),
        })
    }
}
