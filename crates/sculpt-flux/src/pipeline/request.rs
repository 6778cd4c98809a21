//! What one generation asks for, and the checks it must pass before any
//! weight is loaded.

/// One image to generate.
#[derive(Clone, Debug, PartialEq)]
pub struct GenerateRequest {
    pub prompt: String,
    pub width: usize,
    pub height: usize,
    pub steps: usize,
    pub seed: u64,
    /// The embedded guidance of guidance-distilled models (dev); ignored by
    /// the others. `None`: [`DEFAULT_GUIDANCE`].
    pub guidance: Option<f32>,
    /// True classifier-free guidance: each step also runs the transformer on
    /// the empty prompt and takes `v_uncond + s·(v_cond − v_uncond)`.
    /// `None`: the model's default (the manifest's `cfg_scale`).
    pub cfg_scale: Option<f32>,
    /// Image-to-image: the start image and how much of the schedule to run.
    pub init_image: Option<InitImage>,
}

/// FLUX.1-dev's usual embedded guidance.
pub const DEFAULT_GUIDANCE: f32 = 3.5;

/// A start image, already at the requested size.
#[derive(Clone, Debug, PartialEq)]
pub struct InitImage {
    pub width: usize,
    pub height: usize,
    /// Row-major RGBA8 (alpha ignored).
    pub rgba: Vec<u8>,
    /// How far towards noise the image goes before denoising starts.
    pub start: ImageStart,
}

impl InitImage {
    /// The image as planes [3, height, width] in [−1, 1], what the
    /// autoencoder's encoder reads.
    pub fn planes(&self) -> Vec<f32> {
        let pixels = self.width * self.height;
        let mut planes = vec![0f32; 3 * pixels];
        for (index, pixel) in self.rgba.chunks_exact(4).enumerate() {
            for channel in 0..3 {
                planes[channel * pixels + index] = f32::from(pixel[channel]) / 127.5 - 1.0;
            }
        }
        planes
    }
}

/// Where a run from a start image begins.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ImageStart {
    /// Image-to-image: 1 starts from pure noise, 0 keeps the image; the run
    /// skips the first `floor((1 − strength)·steps)` times of the model's
    /// schedule and noises the image to the next one.
    Strength(f32),
    /// The forward process to exactly this t (1 is pure noise): the image is
    /// noised to `(1 − t)·x₀ + t·ε` and the run visits `t`, then the
    /// schedule's times below it (the visualizer's "noise, then restore").
    Time(f64),
}

/// Why a request was refused.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum RequestError {
    #[error(
        "the image size {width}x{height} is not made of positive multiples of 16 \
         (FLUX's latent is 8x smaller and packed in 2x2 patches)"
    )]
    SizeNotMultipleOf16 { width: usize, height: usize },
    #[error("the prompt is empty (only a run from an image may have no prompt)")]
    EmptyPrompt,
    #[error("the number of steps is 0; at least one step is needed")]
    ZeroSteps,
    #[error("the strength {0} is outside [0, 1]")]
    StrengthOutOfRange(f32),
    #[error("the start time t = {0} is outside [0, 1]")]
    TimeOutOfRange(f64),
    #[error("the {what} {value} is not a finite number")]
    NotFinite { what: &'static str, value: f32 },
    #[error(
        "the start image is {found_width}x{found_height} with {found_bytes} bytes, but the \
         request is for {width}x{height} RGBA8 ({} bytes)", 4 * width * height
    )]
    InitImageSize {
        width: usize,
        height: usize,
        found_width: usize,
        found_height: usize,
        found_bytes: usize,
    },
}

impl GenerateRequest {
    /// Checks everything that does not need the model.
    pub fn validate(&self) -> Result<(), RequestError> {
        let (width, height) = (self.width, self.height);
        if width == 0 || height == 0 || !width.is_multiple_of(16) || !height.is_multiple_of(16) {
            return Err(RequestError::SizeNotMultipleOf16 { width, height });
        }
        // From an image an empty prompt means "no hint" (the visualizer
        // restores a picture with none); from pure noise it asks for nothing.
        if self.prompt.trim().is_empty() && self.init_image.is_none() {
            return Err(RequestError::EmptyPrompt);
        }
        if self.steps == 0 {
            return Err(RequestError::ZeroSteps);
        }
        for (what, value) in [("guidance", self.guidance), ("cfg scale", self.cfg_scale)] {
            if let Some(value) = value
                && !value.is_finite()
            {
                return Err(RequestError::NotFinite { what, value });
            }
        }
        if let Some(image) = &self.init_image {
            match image.start {
                ImageStart::Strength(strength) if !(0.0..=1.0).contains(&strength) => {
                    return Err(RequestError::StrengthOutOfRange(strength));
                }
                ImageStart::Time(t) if !(0.0..=1.0).contains(&t) => {
                    return Err(RequestError::TimeOutOfRange(t));
                }
                _ => {}
            }
            if image.width != width
                || image.height != height
                || image.rgba.len() != 4 * width * height
            {
                return Err(RequestError::InitImageSize {
                    width,
                    height,
                    found_width: image.width,
                    found_height: image.height,
                    found_bytes: image.rgba.len(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> GenerateRequest {
        GenerateRequest {
            prompt: "a red fox".into(),
            width: 64,
            height: 48,
            steps: 4,
            seed: 1,
            guidance: None,
            cfg_scale: None,
            init_image: None,
        }
    }

    #[test]
    fn each_bad_request_has_its_own_error() {
        assert_eq!(request().validate(), Ok(()));
        // From an image, no prompt is a request too ("no hint").
        let unprompted = GenerateRequest {
            prompt: String::new(),
            init_image: Some(InitImage {
                width: 64,
                height: 48,
                rgba: vec![0; 64 * 48 * 4],
                start: ImageStart::Time(0.5),
            }),
            ..request()
        };
        assert_eq!(unprompted.validate(), Ok(()));
        let cases: Vec<(GenerateRequest, RequestError)> = vec![
            (
                GenerateRequest {
                    width: 72,
                    ..request()
                },
                RequestError::SizeNotMultipleOf16 {
                    width: 72,
                    height: 48,
                },
            ),
            (
                GenerateRequest {
                    height: 0,
                    ..request()
                },
                RequestError::SizeNotMultipleOf16 {
                    width: 64,
                    height: 0,
                },
            ),
            (
                GenerateRequest {
                    prompt: "  ".into(),
                    ..request()
                },
                RequestError::EmptyPrompt,
            ),
            (
                GenerateRequest {
                    steps: 0,
                    ..request()
                },
                RequestError::ZeroSteps,
            ),
            (
                GenerateRequest {
                    init_image: Some(InitImage {
                        width: 64,
                        height: 48,
                        rgba: vec![0; 64 * 48 * 4],
                        start: ImageStart::Strength(1.5),
                    }),
                    ..request()
                },
                RequestError::StrengthOutOfRange(1.5),
            ),
            (
                GenerateRequest {
                    init_image: Some(InitImage {
                        width: 64,
                        height: 48,
                        rgba: vec![0; 64 * 48 * 4],
                        start: ImageStart::Time(-0.25),
                    }),
                    ..request()
                },
                RequestError::TimeOutOfRange(-0.25),
            ),
            (
                GenerateRequest {
                    init_image: Some(InitImage {
                        width: 32,
                        height: 48,
                        rgba: vec![0; 32 * 48 * 4],
                        start: ImageStart::Strength(0.5),
                    }),
                    ..request()
                },
                RequestError::InitImageSize {
                    width: 64,
                    height: 48,
                    found_width: 32,
                    found_height: 48,
                    found_bytes: 32 * 48 * 4,
                },
            ),
            (
                GenerateRequest {
                    cfg_scale: Some(f32::NAN),
                    ..request()
                },
                RequestError::NotFinite {
                    what: "cfg scale",
                    value: f32::NAN,
                },
            ),
        ];
        for (bad, want) in cases {
            let got = bad.validate().unwrap_err();
            // NaN != NaN: compare the messages.
            assert_eq!(got.to_string(), want.to_string());
        }
    }
}
