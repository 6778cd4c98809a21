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
    refuse_what_tokenizers_panics_on(&json).map_err(unreadable)?;
    let mut tokenizer: Tokenizer =
        serde_json::from_value(json).map_err(|e| unreadable(e.to_string()))?;
    // Settings a file may carry would cut or pad the prompt before its full length is known.
    tokenizer
        .with_truncation(None)
        .map_err(|e| unreadable(e.to_string()))?;
    tokenizer.with_padding(None);
    Ok(tokenizer)
}

/// What the tokenizers crate (0.22) panics on instead of refusing, found by
/// fuzzing (`sculpt-fuzz`): a panic in the browser's worker aborts it, so
/// these are refused here, from the parsed JSON, with what is wrong.
/// - A BPE model with a `continuing_subword_prefix` whose merge has a
///   second part that does not start with it (tokenizers cuts the prefix
///   off without looking).
/// - A pattern (of a `Replace` normalizer or decoder, or a `Split`) that
///   can match an empty string: normalizing with it indexes past the
///   text's alignments.
fn refuse_what_tokenizers_panics_on(json: &serde_json::Value) -> Result<(), String> {
    // tokenizers also reads untagged (legacy) sections, so the shapes are
    // checked whatever `type` says: a model with merges is a BPE, an
    // object with a pattern is a Replace.
    let model = &json["model"];
    if let Some(prefix) = model["continuing_subword_prefix"]
        .as_str()
        .filter(|p| !p.is_empty())
        && let Some(merges) = model["merges"].as_array()
    {
        for (index, merge) in merges.iter().enumerate() {
            let second = match merge {
                serde_json::Value::Array(parts) => parts.get(1).and_then(|b| b.as_str()),
                serde_json::Value::String(pair) => pair.split_once(' ').map(|(_, b)| b),
                _ => None,
            };
            if let Some(second) = second
                && !second.starts_with(prefix)
            {
                return Err(format!(
                    "BPE merge {index}'s second part {second:?} does not start with the \
                     continuing-subword prefix {prefix:?}"
                ));
            }
        }
    }
    let mut problem = None;
    visit_objects(json, &mut |object| {
        let Some(pattern) = object.get("pattern").filter(|_| problem.is_none()) else {
            return;
        };
        problem = match (pattern["String"].as_str(), pattern["Regex"].as_str()) {
            (Some(""), _) => Some("a pattern (of a Replace or Split) is empty".to_string()),
            (_, Some(regex)) => matches_empty(regex).then(|| {
                format!("the pattern {regex:?} (of a Replace or Split) can match an empty string")
            }),
            _ => None,
        };
    });
    problem.map_or(Ok(()), Err)
}

/// Whether `regex` (tokenizers' dialect) finds an empty match in a few
/// short texts; a pattern that does not compile is left to tokenizers,
/// which refuses it.
fn matches_empty(regex: &str) -> bool {
    let Ok(regex) = fancy_regex::Regex::new(regex) else {
        return false;
    };
    ["", "a", " ", "ab  c\n", "é 1"].iter().any(|text| {
        regex
            .find_iter(text)
            .any(|found| found.is_ok_and(|m| m.start() == m.end()))
    })
}

fn visit_objects(
    value: &serde_json::Value,
    visit: &mut impl FnMut(&serde_json::Map<String, serde_json::Value>),
) {
    match value {
        serde_json::Value::Object(object) => {
            visit(object);
            object
                .values()
                .for_each(|child| visit_objects(child, visit));
        }
        serde_json::Value::Array(items) => {
            items.iter().for_each(|child| visit_objects(child, visit))
        }
        _ => {}
    }
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
