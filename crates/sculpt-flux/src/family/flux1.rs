//! FLUX.1 (schnell and dev): CLIP-L's pooled vector and T5 v1.1 XXL's
//! states condition the transformer.

use super::{Family, ModelConfigs, ModelDefaults, TextOutput, TextStage};
use crate::checkpoint::Role;

pub fn flux1() -> Family {
    Family {
        id: "flux1",
        name: "FLUX.1",
        text_encoders: vec![
            TextStage {
                role: Role::Clip,
                output: TextOutput::Pooled,
            },
            TextStage {
                role: Role::T5,
                output: TextOutput::States,
            },
        ],
        imported_defaults: |name, configs: &ModelConfigs| {
            ModelDefaults::flux(name, configs.transformer().guidance_embed)
        },
    }
}
