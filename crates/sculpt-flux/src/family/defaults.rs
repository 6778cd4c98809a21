//! What a model runs with where its weights do not say: its name, size,
//! steps, schedule and guidance.

use crate::schedule::ScheduleShift;

/// What a model runs with by default, where its weights do not say.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelDefaults {
    pub name: String,
    /// [width, height].
    pub resolution: [usize; 2],
    pub steps: usize,
    pub schedule_shift: Option<ScheduleShift>,
    pub cfg_scale: Option<f32>,
    pub t5_length: usize,
}

impl ModelDefaults {
    /// The released FLUX.1 defaults for an imported transformer: dev (with
    /// a guidance input) 28 shifted steps and 512 T5 tokens, schnell 4 even
    /// steps and 256 tokens; 1024² either way.
    pub fn flux(name: &str, guidance_distilled: bool) -> Self {
        Self {
            name: name.into(),
            resolution: [1024, 1024],
            steps: if guidance_distilled { 28 } else { 4 },
            schedule_shift: guidance_distilled.then_some(ScheduleShift::DEV),
            cfg_scale: None,
            t5_length: if guidance_distilled {
                crate::text::T5_LENGTH_DEV
            } else {
                crate::text::T5_LENGTH_SCHNELL
            },
        }
    }
}
