//! Prompt text → token ids for FLUX's two text encoders, read from the public `tokenizer.json`
//! files (passed as bytes: in the browser they come from IndexedDB).
//!
//! - [`ClipTokenizer`]: CLIP-L's byte-level BPE. Always 77 ids: `<|startoftext|>`, the prompt,
//!   `<|endoftext|>`, then padding with `<|endoftext|>` again, which is what diffusers' FLUX
//!   pipeline produces (`padding="max_length"` with CLIP-L's pad token, `<|endoftext|>`). The
//!   pooled CLIP output is read at the first `<|endoftext|>` ([`ClipTokens::eos_index`]).
//! - [`T5Tokenizer`]: T5 v1.1 XXL's SentencePiece unigram. The prompt, `</s>`, then `<pad>` (id 0)
//!   up to [`T5_LENGTH_SCHNELL`] or [`T5_LENGTH_DEV`]; FLUX runs T5 on the padded ids without an
//!   attention mask, so the length is part of the model's input, not a convenience.
//!
//! Both tokenizers add their special tokens and do truncation and padding here rather than through
//! the file's own post-processor, truncation and padding settings: the prompt's full length must
//! be known to tell the user what was cut ([`Truncation`]), and CLIP's padding token is not recorded
//! in `tokenizer.json` at all.

mod clip;
mod error;
mod load;
mod t5;
mod truncation;

pub use clip::{CLIP_CONTEXT_LENGTH, ClipTokenizer, ClipTokens};
pub use error::{TextEncoder, TextError};
pub use t5::{T5_LENGTH_DEV, T5_LENGTH_SCHNELL, T5Tokenizer, T5Tokens};
pub use truncation::Truncation;
