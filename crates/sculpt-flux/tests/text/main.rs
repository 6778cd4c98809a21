//! The text tokenizers on their fixtures in `tests/data/`: a real CLIP-L tokenizer.json (checked
//! against open_clip's own tokenizer) and a synthetic T5 one in the public layout (checked against
//! hand-worked ids).
//!
//! Natively: `cargo test -p sculpt-flux --test text`. The same tests run as wasm in Node, where the
//! tokenizers crate runs as it does in the browser: `cargo test -p sculpt-flux --test text --target
//! wasm32-unknown-unknown` (each module swaps `#[test]` for `wasm_bindgen_test`).

mod clip;
mod errors;
mod open_clip_reference;
mod t5;

use std::io::Read;
use std::sync::LazyLock;

use sculpt_flux::text::{ClipTokenizer, T5Tokenizer};

const CLIP_TOKENIZER_JSON_GZ: &[u8] =
    include_bytes!("../data/clip-vit-large-patch14.tokenizer.json.gz");
const T5_TOKENIZER_JSON: &[u8] = include_bytes!("../data/t5-synthetic.tokenizer.json");

fn clip_tokenizer_json() -> Vec<u8> {
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(CLIP_TOKENIZER_JSON_GZ)
        .read_to_end(&mut json)
        .expect("the committed CLIP fixture is a valid gzip file");
    json
}

// Loaded once: the CLIP vocabulary and merges take a while to parse in a debug build.
static CLIP: LazyLock<ClipTokenizer> = LazyLock::new(|| {
    ClipTokenizer::from_json(&clip_tokenizer_json()).expect("the CLIP fixture loads")
});

static T5: LazyLock<T5Tokenizer> =
    LazyLock::new(|| T5Tokenizer::from_json(T5_TOKENIZER_JSON).expect("the T5 fixture loads"));
