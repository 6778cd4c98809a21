use sculpt_flux::text::{CLIP_CONTEXT_LENGTH, TextEncoder, Truncation};
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use crate::open_clip_reference::OPEN_CLIP_REFERENCE;
use crate::{CLIP, clip_tokenizer_json};

const START_OF_TEXT: u32 = 49406;
const END_OF_TEXT: u32 = 49407;
const CAT: u32 = 2368;

#[test]
fn special_token_ids_are_clip_ls() {
    assert_eq!(CLIP.start_of_text_id(), START_OF_TEXT);
    assert_eq!(CLIP.end_of_text_id(), END_OF_TEXT);
}

#[test]
fn ids_equal_open_clips_for_every_reference_prompt() {
    for &(prompt, open_clip_tokens, expected) in OPEN_CLIP_REFERENCE {
        let tokens = CLIP.encode(prompt).unwrap();
        assert_eq!(&tokens.ids[..tokens.real_tokens], expected, "{prompt:?}");
        assert_eq!(tokens.ids.len(), CLIP_CONTEXT_LENGTH, "{prompt:?}");
        assert!(
            tokens.ids[tokens.real_tokens..]
                .iter()
                .all(|&id| id == END_OF_TEXT),
            "{prompt:?} is padded with <|endoftext|>"
        );
        assert_eq!(tokens.eos_index, expected.len() - 1, "{prompt:?}");
        let expected_truncation = (open_clip_tokens > CLIP_CONTEXT_LENGTH).then_some(Truncation {
            encoder: TextEncoder::Clip,
            prompt_tokens: open_clip_tokens,
            kept_tokens: CLIP_CONTEXT_LENGTH,
        });
        assert_eq!(tokens.truncation, expected_truncation, "{prompt:?}");
    }
}

#[test]
fn the_reference_set_includes_a_prompt_open_clip_truncates() {
    assert!(
        OPEN_CLIP_REFERENCE
            .iter()
            .any(|&(_, tokens, _)| tokens > CLIP_CONTEXT_LENGTH)
    );
}

#[test]
fn a_photo_of_a_cat_is_the_whole_77_id_row() {
    let tokens = CLIP.encode("a photo of a cat").unwrap();
    let mut expected = vec![START_OF_TEXT, 320, 1125, 539, 320, CAT, END_OF_TEXT];
    expected.resize(CLIP_CONTEXT_LENGTH, END_OF_TEXT);
    assert_eq!(tokens.ids, expected);
    assert_eq!(tokens.real_tokens, 7);
    assert_eq!(tokens.eos_index, 6);
    assert_eq!(tokens.truncation, None);
}

#[test]
fn eos_index_is_where_clip_pools_argmax_of_ids() {
    for prompt in ["a photo of a cat", "", &"cat ".repeat(100)] {
        let tokens = CLIP.encode(prompt).unwrap();
        let highest = *tokens.ids.iter().max().unwrap();
        let first_argmax = tokens.ids.iter().position(|&id| id == highest).unwrap();
        assert_eq!(tokens.eos_index, first_argmax, "{prompt:?}");
    }
}

#[test]
fn an_empty_prompt_is_the_two_special_tokens_then_padding() {
    let tokens = CLIP.encode("").unwrap();
    assert_eq!(tokens.ids[..2], [START_OF_TEXT, END_OF_TEXT]);
    assert_eq!(tokens.real_tokens, 2);
    assert_eq!(tokens.eos_index, 1);
    assert_eq!(tokens.truncation, None);
}

#[test]
fn a_long_prompt_keeps_its_first_75_tokens_and_the_eos_and_warns() {
    let tokens = CLIP.encode(&"cat ".repeat(100)).unwrap();
    assert_eq!(tokens.ids.len(), CLIP_CONTEXT_LENGTH);
    assert_eq!(tokens.ids[0], START_OF_TEXT);
    assert!(tokens.ids[1..76].iter().all(|&id| id == CAT));
    assert_eq!(tokens.ids[76], END_OF_TEXT);
    assert_eq!(tokens.real_tokens, CLIP_CONTEXT_LENGTH);
    assert_eq!(tokens.eos_index, 76);
    let truncation = tokens.truncation.expect("a 102-token prompt is truncated");
    assert_eq!(
        truncation.to_string(),
        "prompt is 102 tokens; CLIP reads the first 77"
    );
}

#[test]
fn truncation_starts_at_the_78th_token() {
    let fits = CLIP.encode(&"cat ".repeat(75)).unwrap();
    assert_eq!(fits.truncation, None);
    assert_eq!(fits.real_tokens, 77);
    assert_eq!(fits.eos_index, 76);

    let cut = CLIP.encode(&"cat ".repeat(76)).unwrap();
    assert_eq!(cut.truncation.map(|t| t.prompt_tokens), Some(78));
    assert_eq!(cut.ids[76], END_OF_TEXT);
}

#[test]
fn a_spelled_out_endoftext_is_the_special_token_and_the_pooling_position() {
    // Hugging Face's CLIP tokenizer does the same, so the pooled output moves there too.
    let tokens = CLIP.encode("a <|endoftext|> cat").unwrap();
    assert_eq!(
        tokens.ids[..5],
        [START_OF_TEXT, 320, END_OF_TEXT, CAT, END_OF_TEXT]
    );
    assert_eq!(tokens.real_tokens, 5);
    assert_eq!(tokens.eos_index, 2);
}

#[test]
fn the_files_own_post_processor_adds_the_same_special_tokens() {
    // Others (transformers, candle's examples) encode with the file's RobertaProcessing; the
    // committed fixture must agree with what ClipTokenizer adds itself.
    let raw = tokenizers::Tokenizer::from_bytes(clip_tokenizer_json()).unwrap();
    for prompt in ["a photo of a cat", "Hello, world! 123", "🍎 café"] {
        let by_file = raw.encode(prompt, true).unwrap().get_ids().to_vec();
        let tokens = CLIP.encode(prompt).unwrap();
        assert_eq!(by_file, tokens.ids[..tokens.real_tokens], "{prompt:?}");
    }
}
