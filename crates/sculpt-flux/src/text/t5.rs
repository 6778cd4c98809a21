use tokenizers::{ModelWrapper, Tokenizer};

use super::load::{model_kind, parse_tokenizer_json, prompt_ids, special_token_id};
use super::{TextEncoder, TextError, Truncation};

/// T5 sequence length FLUX.1-schnell uses (diffusers' `max_sequence_length` default for it).
pub const T5_LENGTH_SCHNELL: usize = 256;
/// T5 sequence length FLUX.1-dev uses.
pub const T5_LENGTH_DEV: usize = 512;

const END_OF_SEQUENCE: &str = "</s>";
const PAD: &str = "<pad>";

/// T5 v1.1 XXL's tokenizer (FLUX's `tokenizer_2/tokenizer.json`).
#[derive(Debug, Clone)]
pub struct T5Tokenizer {
    tokenizer: Tokenizer,
    end_of_sequence: u32,
    pad: u32,
}

/// One prompt as T5 reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct T5Tokens {
    /// Exactly the requested length: the prompt, `</s>`, then `<pad>`.
    pub ids: Vec<u32>,
    /// Ids before the padding: the prompt tokens that fit and `</s>`.
    pub real_tokens: usize,
    /// Set when the prompt did not fit; its `Display` is the warning for the user.
    pub truncation: Option<Truncation>,
}

impl T5Tokenizer {
    /// Reads a T5 `tokenizer.json`: a Unigram model with the `</s>` and `<pad>` tokens.
    pub fn from_json(bytes: &[u8]) -> Result<Self, TextError> {
        let encoder = TextEncoder::T5;
        let tokenizer = parse_tokenizer_json(encoder, bytes)?;
        match tokenizer.get_model() {
            ModelWrapper::Unigram(_) => {}
            other => {
                return Err(TextError::WrongModel {
                    encoder,
                    found: model_kind(other),
                    expected: "Unigram",
                });
            }
        }
        let end_of_sequence = special_token_id(&tokenizer, encoder, END_OF_SEQUENCE)?;
        let pad = special_token_id(&tokenizer, encoder, PAD)?;
        Ok(Self {
            tokenizer,
            end_of_sequence,
            pad,
        })
    }

    /// Tokenizes `prompt` into exactly `length` ids ([`T5_LENGTH_SCHNELL`] or [`T5_LENGTH_DEV`]).
    /// A longer prompt is cut so that the sequence still ends with `</s>`, and the cut is reported.
    pub fn encode(&self, prompt: &str, length: usize) -> Result<T5Tokens, TextError> {
        if length == 0 {
            return Err(TextError::LengthTooShort {
                encoder: TextEncoder::T5,
                requested: length,
                minimum: 1,
            });
        }
        let prompt_ids = prompt_ids(&self.tokenizer, TextEncoder::T5, prompt)?;
        let kept = &prompt_ids[..prompt_ids.len().min(length - 1)];

        let mut ids = Vec::with_capacity(length);
        ids.extend_from_slice(kept);
        ids.push(self.end_of_sequence);
        let real_tokens = ids.len();
        ids.resize(length, self.pad);

        let prompt_tokens = prompt_ids.len() + 1;
        let truncation = (prompt_tokens > length).then_some(Truncation {
            encoder: TextEncoder::T5,
            prompt_tokens,
            kept_tokens: length,
        });
        Ok(T5Tokens {
            ids,
            real_tokens,
            truncation,
        })
    }

    /// The `</s>` id (1 in T5).
    pub fn end_of_sequence_id(&self) -> u32 {
        self.end_of_sequence
    }

    /// The `<pad>` id (0 in T5).
    pub fn pad_id(&self) -> u32 {
        self.pad
    }
}
