//! Model families: which models make up a family and what each gives the
//! next. The pipeline, the memory plan, the manifest, the loose-file sorter
//! and the CPU path read a [`Family`] rather than naming FLUX.1's models, so
//! a family that composes models Sculpt already runs is one entry in
//! [`roster`] (or, in a test, a value built on the spot).
//!
//! A model *kind* (CLIP, T5, the FLUX transformer, the autoencoder) is a
//! [`Role`]: its configuration ([`ModelConfig`]), its tensor layout, how
//! its weights reach the GPU and how each backend runs it. A new kind adds
//! its folder and one arm at each of those points (they are listed on
//! `Role`); a new family is then a new entry here.

mod configs;
mod defaults;
mod flux1;
mod tokenizer;

pub use configs::ModelConfigs;
pub use defaults::ModelDefaults;
pub use flux1::flux1;
pub use tokenizer::{PromptTokenizer, PromptTokens};

use crate::checkpoint::{ModelConfig, Role};
use crate::text::CLIP_CONTEXT_LENGTH;

/// What a text encoder's output is to the transformer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextOutput {
    /// One vector per prompt, the transformer's `vec_in_dim` input (with
    /// the time and guidance embeddings). A family without one gives the
    /// transformer zeros there.
    Pooled,
    /// One state per token, the transformer's text tokens
    /// (`context_in_dim` wide).
    States,
}

/// One text encoder of a family and what the transformer takes from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TextStage {
    pub role: Role,
    pub output: TextOutput,
}

/// A model family: its text encoders, in the order they run, then the FLUX
/// transformer denoising the autoencoder's latent in 2×2 patches.
#[derive(Clone, Debug)]
pub struct Family {
    /// The manifest's `family` value ("flux1").
    pub id: &'static str,
    /// In words, for messages ("FLUX.1").
    pub name: &'static str,
    pub text_encoders: Vec<TextStage>,
    /// What an imported model (its files alone, configs inferred) runs
    /// with: given the transformer file's name and the configs found.
    pub imported_defaults: fn(name: &str, configs: &ModelConfigs) -> ModelDefaults,
}

/// Every family Sculpt opens from a manifest or from loose files.
pub fn roster() -> Vec<Family> {
    vec![flux1()]
}

/// The family a manifest's `family` names.
pub fn by_id(id: &str) -> Result<Family, String> {
    roster()
        .into_iter()
        .find(|family| family.id == id)
        .ok_or_else(|| {
            let known: Vec<&str> = roster().iter().map(|family| family.id).collect();
            format!(
                "family '{id}' is not one this Sculpt runs (it runs {})",
                known.join(", ")
            )
        })
}

impl Family {
    /// The family's models: transformer, autoencoder, then the text encoders.
    pub fn roles(&self) -> Vec<Role> {
        let mut roles = vec![Role::Transformer, Role::Autoencoder];
        roles.extend(self.text_encoders.iter().map(|stage| stage.role));
        roles
    }

    /// The encoder whose output is `output`, if the family has one.
    pub fn encoder_of(&self, output: TextOutput) -> Option<Role> {
        self.text_encoders
            .iter()
            .find(|stage| stage.output == output)
            .map(|stage| stage.role)
    }

    /// The manifest's `files` keys: each model's, then each text encoder's
    /// tokenizer (`clip_tokenizer`…).
    pub fn file_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.roles().iter().map(|r| r.key().to_string()).collect();
        keys.extend(self.text_encoders.iter().map(|s| tokenizer_key(s.role)));
        keys
    }

    /// The transformer's text tokens: as many as the states encoder's
    /// tokenizer gives (T5 pads to the model's `t5_length`).
    pub fn text_tokens(&self, t5_length: usize) -> usize {
        match self.encoder_of(TextOutput::States) {
            Some(Role::Clip) => CLIP_CONTEXT_LENGTH,
            _ => t5_length,
        }
    }

    /// Whether the family itself is one the pipeline runs: each text
    /// encoder a text model giving an output it has, once; exactly one
    /// giving states, at most one a pooled vector.
    pub fn validate(&self) -> Result<(), String> {
        let mut seen = Vec::new();
        for stage in &self.text_encoders {
            if seen.contains(&stage.role) {
                return Err(format!("{} runs the {} twice", self.name, stage.role));
            }
            seen.push(stage.role);
            if !text_outputs(stage.role).contains(&stage.output) {
                return Err(format!(
                    "{} takes {:?} from the {}, which does not give it",
                    self.name, stage.output, stage.role
                ));
            }
        }
        for (output, most) in [(TextOutput::States, 1), (TextOutput::Pooled, 1)] {
            let count = self
                .text_encoders
                .iter()
                .filter(|s| s.output == output)
                .count();
            if count > most {
                return Err(format!(
                    "{} has {count} encoders giving {output:?}",
                    self.name
                ));
            }
        }
        if self.encoder_of(TextOutput::States).is_none() {
            return Err(format!("{} has no text encoder giving states", self.name));
        }
        Ok(())
    }

    /// Checks that `configs` holds exactly this family's models, that each
    /// can run, and that they fit together: the transformer takes the pooled
    /// encoder's width as its vector, the states encoder's as its text
    /// tokens, and 2×2 patches of the autoencoder's latent as image tokens.
    pub fn check(&self, configs: &ModelConfigs) -> Result<(), String> {
        self.validate()?;
        let roles = self.roles();
        for role in &roles {
            let Some(config) = configs.get(*role) else {
                return Err(format!(
                    "config has no {} (the {}'s {})",
                    role.key(),
                    self.name,
                    role.name()
                ));
            };
            config
                .validate()
                .map_err(|problem| format!("config.{}: {problem}", role.key()))?;
        }
        if let Some(extra) = configs.roles().find(|role| !roles.contains(role)) {
            return Err(format!(
                "config.{}: {} has no {}",
                extra.key(),
                self.name,
                extra.name()
            ));
        }
        let transformer = configs.transformer();
        let autoencoder = configs.autoencoder();
        let scale = autoencoder.pixels_per_latent();
        // Image sizes are multiples of 16 (FLUX's 8× latent in 2×2 patches);
        // a latent at most 8× smaller still splits into whole patches.
        if scale > 8 {
            return Err(format!(
                "config.autoencoder has {} levels, so its latent is {scale}x smaller than the \
                 image; the pipeline takes at most FLUX's 8x (4 levels), so that images \
                 whose sides are multiples of 16 split into 2x2 latent patches",
                autoencoder.ch_mult.len()
            ));
        }
        let mut pairs = vec![(
            "in_channels",
            transformer.in_channels,
            "4 × autoencoder.z_channels".to_string(),
            4 * autoencoder.z_channels,
        )];
        for (field, output, value) in [
            ("vec_in_dim", TextOutput::Pooled, transformer.vec_in_dim),
            (
                "context_in_dim",
                TextOutput::States,
                transformer.context_in_dim,
            ),
        ] {
            if let Some(role) = self.encoder_of(output) {
                let (width_name, width) = text_width(configs.get(role).expect("checked above"));
                pairs.push((field, value, format!("{}.{width_name}", role.key()), width));
            }
        }
        for (field, value, other, expected) in pairs {
            if value != expected {
                return Err(format!(
                    "config.transformer.{field} is {value}, but {other} is {expected}: the models do not fit together"
                ));
            }
        }
        Ok(())
    }
}

/// The manifest's `files` key of a text encoder's tokenizer.json.
pub fn tokenizer_key(role: Role) -> String {
    format!("{}_tokenizer", role.key())
}

/// What a text model gives the transformer.
fn text_outputs(role: Role) -> &'static [TextOutput] {
    match role {
        // The states after the final LayerNorm, and the one at the first
        // end of text as the pooled vector.
        Role::Clip => &[TextOutput::Pooled, TextOutput::States],
        Role::T5 => &[TextOutput::States],
        Role::Transformer | Role::Autoencoder => &[],
    }
}

/// A text model's output width, and the config field that says it.
fn text_width(config: &ModelConfig) -> (&'static str, usize) {
    match config {
        ModelConfig::Clip(clip) => ("hidden_size", clip.hidden_size),
        ModelConfig::T5(t5) => ("d_model", t5.d_model),
        ModelConfig::Transformer(_) | ModelConfig::Autoencoder(_) => {
            unreachable!("families validate that text encoders are text models")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::autoencoder::AutoEncoderConfig;
    use crate::models::clip::ClipTextConfig;
    use crate::models::flux1::FluxConfig;
    use crate::models::t5::T5Config;

    fn schnell() -> ModelConfigs {
        ModelConfigs::new([
            ModelConfig::Transformer(FluxConfig::schnell()),
            ModelConfig::Autoencoder(AutoEncoderConfig::flux()),
            ModelConfig::Clip(ClipTextConfig::vit_l_14()),
            ModelConfig::T5(T5Config::v1_1_xxl()),
        ])
    }

    fn with_stages(text_encoders: Vec<TextStage>) -> Family {
        Family {
            id: "test",
            name: "Test",
            text_encoders,
            ..flux1()
        }
    }

    #[test]
    fn flux1_is_clip_pooled_and_t5_states() {
        let family = flux1();
        family.check(&schnell()).unwrap();
        assert_eq!(
            family.roles(),
            [Role::Transformer, Role::Autoencoder, Role::Clip, Role::T5]
        );
        assert_eq!(
            family.file_keys(),
            [
                "transformer",
                "autoencoder",
                "clip",
                "t5",
                "clip_tokenizer",
                "t5_tokenizer"
            ]
        );
        assert_eq!(family.encoder_of(TextOutput::Pooled), Some(Role::Clip));
        assert_eq!(family.text_tokens(256), 256);
        assert_eq!(by_id("flux1").unwrap().name, "FLUX.1");
        assert!(by_id("flux2").unwrap_err().contains("runs flux1"));
    }

    #[test]
    fn a_family_must_be_one_the_pipeline_runs() {
        let states = |role| TextStage {
            role,
            output: TextOutput::States,
        };
        let pooled = |role| TextStage {
            role,
            output: TextOutput::Pooled,
        };
        let problem = |family: Family| family.validate().unwrap_err();
        assert!(problem(with_stages(vec![pooled(Role::T5)])).contains("does not give it"));
        assert!(
            problem(with_stages(vec![pooled(Role::Clip)]))
                .contains("no text encoder giving states")
        );
        assert!(
            problem(with_stages(vec![states(Role::Clip), states(Role::T5)])).contains("2 encoders")
        );
        assert!(problem(with_stages(vec![states(Role::T5), pooled(Role::T5)])).contains("twice"));
        assert!(problem(with_stages(vec![states(Role::Transformer)])).contains("does not give it"));
        // CLIP's states as the text tokens: 77 of them.
        let clip_only = with_stages(vec![states(Role::Clip)]);
        clip_only.validate().unwrap();
        assert_eq!(clip_only.text_tokens(256), 77);
    }

    #[test]
    fn configs_are_checked_against_the_family() {
        let t5_only = with_stages(vec![TextStage {
            role: Role::T5,
            output: TextOutput::States,
        }]);
        // FLUX.1's configs hold a CLIP this family has no place for.
        let error = t5_only.check(&schnell()).unwrap_err();
        assert!(
            error.contains("config.clip: Test has no CLIP text model"),
            "{error}"
        );
        let mut configs = schnell();
        configs.remove(Role::Clip);
        // Without a pooled encoder nothing is checked against vec_in_dim.
        t5_only.check(&configs).unwrap();
        let error = flux1().check(&configs).unwrap_err();
        assert!(error.contains("config has no clip"), "{error}");
        // With one, its width must be the transformer's vector input.
        let mut configs = schnell();
        configs.insert(ModelConfig::Clip(ClipTextConfig {
            hidden_size: 1024,
            num_heads: 16,
            ..ClipTextConfig::vit_l_14()
        }));
        let error = flux1().check(&configs).unwrap_err();
        assert!(
            error.contains("vec_in_dim is 768, but clip.hidden_size is 1024"),
            "{error}"
        );
    }
}
