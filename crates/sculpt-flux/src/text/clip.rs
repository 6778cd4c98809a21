use tokenizers::{ModelWrapper, Tokenizer};

use super::load::{model_kind, parse_tokenizer_json, prompt_ids, special_token_id};
use super::{TextEncoder, TextError, Truncation};

/// CLIP-L's sequence length: its position embedding has 77 rows.
pub const CLIP_CONTEXT_LENGTH: usize = 77;

const START_OF_TEXT: &str = "<|startoftext|>";
const END_OF_TEXT: &str = "<|endoftext|>";
const END_OF_WORD_SUFFIX: &str = "</w>";

/// CLIP-L's tokenizer (openai/clip-vit-large-patch14, FLUX's `tokenizer/tokenizer.json`).
///
/// Text is cleaned by the file's normalizer (NFC, whitespace runs to one space, lowercase), as
/// Hugging Face's fast CLIP tokenizer does. OpenAI's original tokenizer also runs ftfy and HTML
/// unescaping, so a prompt with curly quotes or HTML entities (`’`, `&amp;`) can get other ids
/// there; every other prompt gets the same ids (see the open_clip comparison in the tests).
#[derive(Debug, Clone)]
pub struct ClipTokenizer {
    tokenizer: Tokenizer,
    start_of_text: u32,
    end_of_text: u32,
}

/// One prompt as CLIP-L reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClipTokens {
    /// Exactly [`CLIP_CONTEXT_LENGTH`] ids: `<|startoftext|>`, the prompt, `<|endoftext|>`, then
    /// `<|endoftext|>` as padding.
    pub ids: Vec<u32>,
    /// Ids before the padding: both special tokens and the prompt tokens that fit.
    pub real_tokens: usize,
    /// Where the pooled output is read: the first `<|endoftext|>`. CLIP takes the hidden state at
    /// `argmax(ids)`, which is this position because `<|endoftext|>` (49407) is the highest id in
    /// the vocabulary and argmax returns the first maximum. It is `real_tokens - 1` unless the
    /// prompt itself spells `<|endoftext|>`, which the tokenizer turns into the special token, as
    /// Hugging Face's does.
    pub eos_index: usize,
    /// Set when the prompt did not fit; its `Display` is the warning for the user.
    pub truncation: Option<Truncation>,
}

impl ClipTokenizer {
    /// Reads a CLIP `tokenizer.json`: a BPE model whose words end in `</w>`, with the
    /// `<|startoftext|>` and `<|endoftext|>` tokens.
    pub fn from_json(bytes: &[u8]) -> Result<Self, TextError> {
        let encoder = TextEncoder::Clip;
        let tokenizer = parse_tokenizer_json(encoder, bytes)?;
        match tokenizer.get_model() {
            ModelWrapper::BPE(bpe) => {
                // A GPT-2 style BPE (no suffix) would load and silently give other ids.
                if bpe.end_of_word_suffix.as_deref() != Some(END_OF_WORD_SUFFIX) {
                    return Err(TextError::WrongEndOfWordSuffix {
                        found: bpe.end_of_word_suffix.clone(),
                    });
                }
            }
            other => {
                return Err(TextError::WrongModel {
                    encoder,
                    found: model_kind(other),
                    expected: "BPE",
                });
            }
        }
        let start_of_text = special_token_id(&tokenizer, encoder, START_OF_TEXT)?;
        let end_of_text = special_token_id(&tokenizer, encoder, END_OF_TEXT)?;
        Ok(Self {
            tokenizer,
            start_of_text,
            end_of_text,
        })
    }

    /// Tokenizes `prompt` into CLIP-L's 77 ids. A longer prompt is cut to its first 75 tokens so
    /// that the sequence still ends with `<|endoftext|>`, and the cut is reported.
    pub fn encode(&self, prompt: &str) -> Result<ClipTokens, TextError> {
        let prompt_ids = prompt_ids(&self.tokenizer, TextEncoder::Clip, prompt)?;
        let room = CLIP_CONTEXT_LENGTH - 2;
        let kept = &prompt_ids[..prompt_ids.len().min(room)];

        let mut ids = Vec::with_capacity(CLIP_CONTEXT_LENGTH);
        ids.push(self.start_of_text);
        ids.extend_from_slice(kept);
        ids.push(self.end_of_text);
        let real_tokens = ids.len();
        ids.resize(CLIP_CONTEXT_LENGTH, self.end_of_text);

        let eos_index = kept
            .iter()
            .position(|&id| id == self.end_of_text)
            .map_or(real_tokens - 1, |index_in_prompt| index_in_prompt + 1);
        let prompt_tokens = prompt_ids.len() + 2;
        let truncation = (prompt_tokens > CLIP_CONTEXT_LENGTH).then_some(Truncation {
            encoder: TextEncoder::Clip,
            prompt_tokens,
            kept_tokens: CLIP_CONTEXT_LENGTH,
        });
        Ok(ClipTokens {
            ids,
            real_tokens,
            eos_index,
            truncation,
        })
    }

    /// The `<|startoftext|>` id (49406 in CLIP-L).
    pub fn start_of_text_id(&self) -> u32 {
        self.start_of_text
    }

    /// The `<|endoftext|>` id (49407 in CLIP-L), also used as padding.
    pub fn end_of_text_id(&self) -> u32 {
        self.end_of_text
    }
}
