use std::fmt;

use super::TextEncoder;

/// A prompt longer than its encoder reads. The `Display` form is the warning for the user, e.g.
/// "prompt is 93 tokens; CLIP reads the first 77".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncation {
    pub encoder: TextEncoder,
    /// Tokens the whole prompt takes, special tokens included, so it compares with `kept_tokens`.
    pub prompt_tokens: usize,
    /// Tokens the encoder receives (its sequence length); the last one is still the EOS token.
    pub kept_tokens: usize,
}

impl fmt::Display for Truncation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "prompt is {} tokens; {} reads the first {}",
            self.prompt_tokens, self.encoder, self.kept_tokens
        )
    }
}
