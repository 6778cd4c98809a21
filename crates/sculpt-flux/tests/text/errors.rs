//! Bad tokenizer.json files give an error that names the encoder and the problem, never a panic.

use sculpt_flux::text::{ClipTokenizer, T5Tokenizer, TextEncoder, TextError};
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use crate::{T5_TOKENIZER_JSON, clip_tokenizer_json};

fn t5_json_with(from: &str, to: &str) -> Vec<u8> {
    let json = std::str::from_utf8(T5_TOKENIZER_JSON).unwrap();
    assert!(json.contains(from), "the fixture contains {from:?}");
    json.replace(from, to).into_bytes()
}

fn clip_json_with(from: &str, to: &str) -> Vec<u8> {
    let json = String::from_utf8(clip_tokenizer_json()).unwrap();
    assert!(json.contains(from), "the fixture contains {from:?}");
    json.replace(from, to).into_bytes()
}

#[test]
fn bytes_that_are_not_json_are_unreadable() {
    for bytes in [&b"not json"[..], b"", b"\xff\xfe\x00", b"{\"model\": "] {
        let clip = ClipTokenizer::from_json(bytes).unwrap_err();
        assert!(
            matches!(
                clip,
                TextError::Unreadable {
                    encoder: TextEncoder::Clip,
                    ..
                }
            ),
            "{clip}"
        );
        assert!(
            clip.to_string()
                .starts_with("CLIP tokenizer.json could not be read: "),
            "{clip}"
        );
        let t5 = T5Tokenizer::from_json(bytes).unwrap_err();
        assert!(
            t5.to_string()
                .starts_with("T5 tokenizer.json could not be read: "),
            "{t5}"
        );
    }
}

#[test]
fn json_that_is_not_a_tokenizer_is_unreadable() {
    let error = ClipTokenizer::from_json(br#"{"weights": [1, 2, 3]}"#).unwrap_err();
    assert!(matches!(error, TextError::Unreadable { .. }), "{error}");
}

#[test]
fn a_t5_file_given_as_clip_names_both_models() {
    let error = ClipTokenizer::from_json(T5_TOKENIZER_JSON).unwrap_err();
    assert_eq!(
        error.to_string(),
        "CLIP tokenizer.json has a Unigram model; CLIP needs BPE"
    );
}

#[test]
fn a_clip_file_given_as_t5_names_both_models() {
    let error = T5Tokenizer::from_json(&clip_tokenizer_json()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "T5 tokenizer.json has a BPE model; T5 needs Unigram"
    );
}

#[test]
fn a_clip_file_without_start_of_text_names_the_token() {
    let json = clip_json_with("\"<|startoftext|>\"", "\"<|start|>\"");
    let error = ClipTokenizer::from_json(&json).unwrap_err();
    assert_eq!(
        error.to_string(),
        "CLIP tokenizer.json has no `<|startoftext|>` token"
    );
}

#[test]
fn a_bpe_without_clips_word_end_marker_is_refused() {
    let json = clip_json_with(
        "\"end_of_word_suffix\":\"</w>\"",
        "\"end_of_word_suffix\":null",
    );
    let error = ClipTokenizer::from_json(&json).unwrap_err();
    assert!(
        matches!(error, TextError::WrongEndOfWordSuffix { found: None }),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        "CLIP tokenizer.json's BPE model has no end-of-word suffix; CLIP's vocabulary needs the end-of-word suffix \"</w>\""
    );
}

#[test]
fn a_t5_file_without_eos_names_the_token() {
    let json = t5_json_with("\"</s>\"", "\"<eos>\"");
    let error = T5Tokenizer::from_json(&json).unwrap_err();
    assert_eq!(error.to_string(), "T5 tokenizer.json has no `</s>` token");
}

#[test]
fn a_t5_file_without_pad_names_the_token() {
    let json = t5_json_with("\"<pad>\"", "\"<padding>\"");
    let error = T5Tokenizer::from_json(&json).unwrap_err();
    assert_eq!(error.to_string(), "T5 tokenizer.json has no `<pad>` token");
}
