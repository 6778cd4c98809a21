//! The tokenizer of each text encoder kind, behind one type so that a
//! pipeline tokenizes a prompt for whichever encoders its family runs.

use crate::checkpoint::Role;
use crate::text::{ClipTokenizer, T5Tokenizer, TextError, Truncation};

/// A text encoder's tokenizer, read from its tokenizer.json.
pub enum PromptTokenizer {
    Clip(ClipTokenizer),
    T5(T5Tokenizer),
}

/// A prompt as one encoder reads it.
pub struct PromptTokens {
    pub ids: Vec<u32>,
    /// Set when the prompt did not fit.
    pub truncation: Option<Truncation>,
}

impl PromptTokenizer {
    /// The tokenizer of the text encoder `role` from its tokenizer.json.
    pub fn of_role(role: Role, json: &[u8]) -> Result<Self, TextError> {
        Ok(match role {
            Role::Clip => Self::Clip(ClipTokenizer::from_json(json)?),
            Role::T5 => Self::T5(T5Tokenizer::from_json(json)?),
            Role::Transformer | Role::Autoencoder => {
                unreachable!("families validate that text encoders are text models")
            }
        })
    }

    /// `prompt`'s ids: CLIP's always 77, T5's padded to `t5_length`.
    pub fn encode(&self, prompt: &str, t5_length: usize) -> Result<PromptTokens, TextError> {
        Ok(match self {
            Self::Clip(tokenizer) => {
                let tokens = tokenizer.encode(prompt)?;
                PromptTokens {
                    ids: tokens.ids,
                    truncation: tokens.truncation,
                }
            }
            Self::T5(tokenizer) => {
                let tokens = tokenizer.encode(prompt, t5_length)?;
                PromptTokens {
                    ids: tokens.ids,
                    truncation: tokens.truncation,
                }
            }
        })
    }
}
