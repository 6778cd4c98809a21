use std::fmt;

/// Which text encoder a tokenizer feeds; names the encoder in errors and truncation warnings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextEncoder {
    Clip,
    T5,
}

impl fmt::Display for TextEncoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TextEncoder::Clip => "CLIP",
            TextEncoder::T5 => "T5",
        })
    }
}

/// Why a `tokenizer.json` could not be used or a prompt could not be tokenized. Each message names
/// the encoder and the problem, so it can be shown to the user as is.
#[derive(Debug, thiserror::Error)]
pub enum TextError {
    #[error("{encoder} tokenizer.json could not be read: {reason}")]
    Unreadable {
        encoder: TextEncoder,
        reason: String,
    },

    #[error("{encoder} tokenizer.json has a {found} model; {encoder} needs {expected}")]
    WrongModel {
        encoder: TextEncoder,
        found: &'static str,
        expected: &'static str,
    },

    #[error("{encoder} tokenizer.json has no `{token}` token")]
    MissingSpecialToken {
        encoder: TextEncoder,
        token: &'static str,
    },

    #[error(
        "CLIP tokenizer.json's BPE model has {}; CLIP's vocabulary needs the end-of-word suffix \"</w>\"",
        describe_suffix(.found)
    )]
    WrongEndOfWordSuffix { found: Option<String> },

    #[error(
        "{encoder} cannot fit a prompt into {requested} tokens; it needs at least {minimum} for its special tokens"
    )]
    LengthTooShort {
        encoder: TextEncoder,
        requested: usize,
        minimum: usize,
    },

    #[error("{encoder} could not tokenize the prompt: {reason}")]
    Encode {
        encoder: TextEncoder,
        reason: String,
    },
}

fn describe_suffix(suffix: &Option<String>) -> String {
    match suffix {
        Some(suffix) => format!("the end-of-word suffix {suffix:?}"),
        None => "no end-of-word suffix".to_string(),
    }
}
