//! What both tokenizers do with a `tokenizer.json`: parse it, switch off its own truncation and
//! padding, look up special tokens, and encode a prompt without special tokens.

use tokenizers::{ModelWrapper, Tokenizer};

use super::{TextEncoder, TextError};

pub(crate) fn parse_tokenizer_json(
    encoder: TextEncoder,
    bytes: &[u8],
) -> Result<Tokenizer, TextError> {
    let unreadable = |reason: String| TextError::Unreadable { encoder, reason };
    // JSON syntax is checked first, by serde_json alone: tokenizers panics
    // (`expect("Helper")`) on a syntax error inside a `decoder`, which in
    // the browser would take the worker down with it. From a parsed value
    // the same error cannot happen, and any other is returned.
    let json: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| unreadable(e.to_string()))?;
    let mut tokenizer: Tokenizer =
        serde_json::from_value(json).map_err(|e| unreadable(e.to_string()))?;
    // Settings a file may carry would cut or pad the prompt before its full length is known.
    tokenizer
        .with_truncation(None)
        .map_err(|e| unreadable(e.to_string()))?;
    tokenizer.with_padding(None);
    Ok(tokenizer)
}

pub(crate) fn model_kind(model: &ModelWrapper) -> &'static str {
    match model {
        ModelWrapper::BPE(_) => "BPE",
        ModelWrapper::WordPiece(_) => "WordPiece",
        ModelWrapper::WordLevel(_) => "WordLevel",
        ModelWrapper::Unigram(_) => "Unigram",
    }
}

pub(crate) fn special_token_id(
    tokenizer: &Tokenizer,
    encoder: TextEncoder,
    token: &'static str,
) -> Result<u32, TextError> {
    tokenizer
        .token_to_id(token)
        .ok_or(TextError::MissingSpecialToken { encoder, token })
}

/// The prompt's ids between the special tokens, untruncated.
pub(crate) fn prompt_ids(
    tokenizer: &Tokenizer,
    encoder: TextEncoder,
    prompt: &str,
) -> Result<Vec<u32>, TextError> {
    let encoding = tokenizer
        .encode_fast(prompt, false)
        .map_err(|e| TextError::Encode {
            encoder,
            reason: e.to_string(),
        })?;
    Ok(encoding.get_ids().to_vec())
}
