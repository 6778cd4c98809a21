use sculpt_flux::text::{T5_LENGTH_DEV, T5_LENGTH_SCHNELL, TextEncoder, TextError, Truncation};
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use sculpt_flux::text::T5Tokenizer;

use crate::{T5, T5_TOKENIZER_JSON};

// The synthetic vocabulary (tests/data/make_t5_data.py), id: piece (log probability).
const PAD: u32 = 0; // <pad>
const EOS: u32 = 1; // </s>
const UNK: u32 = 2; // <unk>
const SPACE: u32 = 3; // ▁ (-2)
const A: u32 = 4; // ▁a (-3)
const CAT: u32 = 5; // ▁cat (-4)
const PHOTO: u32 = 6; // ▁photo (-5)
const OF: u32 = 7; // ▁of (-4)
const THE: u32 = 8; // ▁the (-3.5)
const S: u32 = 9; // s (-3)
const PERIOD: u32 = 10; // . (-3)
const AT: u32 = 13; // at (-5)
const RED: u32 = 17; // ▁red (-5)
// Also in the vocabulary, only to compete: , (-3.5), ▁c (-6), a c t (-6 each), ▁ph oto (-7 each),
// and <extra_id_1> <extra_id_0> at the top as in the public file.

#[test]
fn special_token_ids_are_t5s() {
    assert_eq!(T5.end_of_sequence_id(), EOS);
    assert_eq!(T5.pad_id(), PAD);
}

#[test]
fn hand_worked_ids_for_the_synthetic_vocabulary() {
    let cases: &[(&str, &[u32])] = &[
        // Metaspace turns each space into ▁ and puts one before the first word: ▁a ▁photo ▁of ▁a
        // ▁cat are all whole pieces; the only rival, ▁ph + oto, scores -14 against ▁photo's -5.
        ("a photo of a cat", &[A, PHOTO, OF, A, CAT, EOS]),
        // ▁cat + s + . (-10) beats ▁c + at + s + . (-17); there is no ▁cats.
        ("the cats.", &[THE, CAT, S, PERIOD, EOS]),
        // The precompiled NFKC map turns fullwidth ｃａｔ into cat.
        ("a ｃａｔ", &[A, CAT, EOS]),
        // Runs of spaces become one ▁.
        ("a   red    cat", &[A, RED, CAT, EOS]),
        // d, o and g are in no piece: ▁ then one <unk> for the whole unknown run (fused).
        ("a dog", &[A, SPACE, UNK, EOS]),
        // T5 is case-sensitive and there is no C: ▁ + <unk> + at beats ▁ + <unk> + a + t.
        ("Cat", &[SPACE, UNK, AT, EOS]),
    ];
    for &(prompt, expected) in cases {
        let tokens = T5.encode(prompt, T5_LENGTH_SCHNELL).unwrap();
        assert_eq!(&tokens.ids[..tokens.real_tokens], expected, "{prompt:?}");
    }
}

#[test]
fn a_prompt_is_padded_with_pad_to_256_for_schnell_and_512_for_dev() {
    for length in [T5_LENGTH_SCHNELL, T5_LENGTH_DEV] {
        let tokens = T5.encode("a photo of a cat", length).unwrap();
        assert_eq!(tokens.ids.len(), length);
        assert_eq!(tokens.ids[..6], [A, PHOTO, OF, A, CAT, EOS]);
        assert!(tokens.ids[6..].iter().all(|&id| id == PAD));
        assert_eq!(tokens.real_tokens, 6);
        assert_eq!(tokens.truncation, None);
    }
}

#[test]
fn an_empty_prompt_is_the_eos_then_padding() {
    let tokens = T5.encode("", T5_LENGTH_SCHNELL).unwrap();
    assert_eq!(tokens.ids[0], EOS);
    assert!(tokens.ids[1..].iter().all(|&id| id == PAD));
    assert_eq!(tokens.real_tokens, 1);
}

#[test]
fn a_long_prompt_is_cut_with_the_eos_kept_and_a_warning() {
    let prompt = "a ".repeat(300);
    let schnell = T5.encode(&prompt, T5_LENGTH_SCHNELL).unwrap();
    assert_eq!(schnell.ids.len(), 256);
    assert!(schnell.ids[..255].iter().all(|&id| id == A));
    assert_eq!(schnell.ids[255], EOS);
    assert_eq!(schnell.real_tokens, 256);
    let warning = schnell.truncation.expect("301 tokens do not fit in 256");
    assert_eq!(
        warning,
        Truncation {
            encoder: TextEncoder::T5,
            prompt_tokens: 301,
            kept_tokens: 256
        }
    );
    assert_eq!(
        warning.to_string(),
        "prompt is 301 tokens; T5 reads the first 256"
    );

    let dev = T5.encode(&prompt, T5_LENGTH_DEV).unwrap();
    assert_eq!(dev.truncation, None);
    assert_eq!(dev.real_tokens, 301);
    assert_eq!(dev.ids[300], EOS);
    assert!(dev.ids[301..].iter().all(|&id| id == PAD));
}

#[test]
fn a_prompt_that_exactly_fits_is_not_truncated() {
    let tokens = T5.encode(&"a ".repeat(255), T5_LENGTH_SCHNELL).unwrap();
    assert_eq!(tokens.truncation, None);
    assert_eq!(tokens.real_tokens, 256);
    assert_eq!(tokens.ids[255], EOS);
}

#[test]
fn a_length_of_one_holds_only_the_eos() {
    let tokens = T5.encode("a cat", 1).unwrap();
    assert_eq!(tokens.ids, [EOS]);
    assert_eq!(tokens.truncation.map(|t| t.prompt_tokens), Some(3));
}

#[test]
fn a_length_of_zero_is_an_error_not_a_panic() {
    let error = T5.encode("a cat", 0).unwrap_err();
    assert!(matches!(error, TextError::LengthTooShort { .. }));
    assert_eq!(
        error.to_string(),
        "T5 cannot fit a prompt into 0 tokens; it needs at least 1 for its special tokens"
    );
}

#[test]
fn the_files_own_post_processor_appends_the_same_eos() {
    let raw = tokenizers::Tokenizer::from_bytes(T5_TOKENIZER_JSON).unwrap();
    for prompt in ["a photo of a cat", "the cats.", "Cat"] {
        let by_file = raw.encode(prompt, true).unwrap().get_ids().to_vec();
        let tokens = T5.encode(prompt, T5_LENGTH_SCHNELL).unwrap();
        assert_eq!(by_file, tokens.ids[..tokens.real_tokens], "{prompt:?}");
    }
}

#[test]
fn a_files_own_truncation_and_padding_settings_are_overridden() {
    // A saved tokenizer.json may carry the settings it was last used with; they must not cut the
    // prompt before its length is known, nor pad with something else.
    let json = std::str::from_utf8(T5_TOKENIZER_JSON)
        .unwrap()
        .replace(
            "\"truncation\": null",
            r#""truncation": {"direction": "Right", "max_length": 3, "strategy": "LongestFirst", "stride": 0}"#,
        )
        .replace(
            "\"padding\": null",
            r#""padding": {"strategy": {"Fixed": 8}, "direction": "Left", "pad_to_multiple_of": null, "pad_id": 2, "pad_type_id": 0, "pad_token": "<unk>"}"#,
        );
    assert!(json.contains("LongestFirst") && json.contains("Fixed"));
    let tokenizer = T5Tokenizer::from_json(json.as_bytes()).unwrap();
    let tokens = tokenizer
        .encode("a photo of a cat", T5_LENGTH_SCHNELL)
        .unwrap();
    assert_eq!(tokens.ids[..6], [A, PHOTO, OF, A, CAT, EOS]);
    assert!(tokens.ids[6..].iter().all(|&id| id == PAD));
    assert_eq!(tokens.truncation, None);
}
