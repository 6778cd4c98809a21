//! The committed corpus as regression tests: every input (the seeds, and
//! every input a fuzz run ever found failing, `found-*`) goes through its
//! target cleanly and within the memory allowance; and the committed seeds
//! are exactly what Sculpt's writers make today.

use sculpt_fuzz::allocations::{self, Counting};
use sculpt_fuzz::driver::memory_allowance;
use sculpt_fuzz::{seeds, targets};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
fn every_corpus_input_passes_its_target() {
    let mut checked = 0;
    for target in &targets::TARGETS {
        let corpus = seeds::corpus(target.name).unwrap();
        assert!(!corpus.is_empty(), "{} has no corpus", target.name);
        for (name, input) in corpus {
            let before = allocations::reset_peak();
            let outcome = std::panic::catch_unwind(|| (target.check)(&input));
            let memory = allocations::peak().saturating_sub(before);
            match outcome {
                Ok(Ok(())) => {}
                Ok(Err(broken)) => panic!("{}/{name}: {broken}", target.name),
                Err(_) => panic!("{}/{name} panicked", target.name),
            }
            assert!(
                memory <= memory_allowance(input.len()),
                "{}/{name} held {memory} bytes",
                target.name
            );
            checked += 1;
        }
    }
    assert!(checked >= 24, "only {checked} corpus inputs");
}

#[test]
fn found_inputs_are_refused_with_a_message() {
    // What the first runs found: overflowing sizes in a manifest's
    // configuration, and JSON syntax errors inside a tokenizer's decoder
    // (on which the tokenizers crate panics). Each must now be an error.
    for (target, name) in [
        ("manifest", "found-28b0f073b9ed1696.json"),
        ("manifest", "found-32b6adf742170e80.json"),
        ("manifest", "found-96088a857758cc92.json"),
    ] {
        let bytes = std::fs::read(seeds::corpus_dir().join(target).join(name)).unwrap();
        let error = sculpt_flux::pipeline::Manifest::from_json("manifest.json", &bytes)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("more than any model has") || error.contains("JSON"),
            "{name}: {error}"
        );
    }
    // Tokenizers: JSON syntax errors inside a decoder; BPE merges whose
    // second part lacks the continuing-subword prefix; Replace patterns
    // that match an empty string (one with a `type` that is not even a
    // string, which tokenizers reads as a Replace all the same).
    for (name, said) in [
        ("found-56f70a067eb9d76b.json", "line 1"),
        ("found-996c33ae739ddada.json", "line 1"),
        ("found-878d7451d923bacf.json", "line 1"),
        ("found-c73f431c8c6ecd8a.json", "continuing-subword prefix"),
        ("found-fa406edfbbae9967.json", "continuing-subword prefix"),
        ("found-81ac6cb3588565e7.json", "continuing-subword prefix"),
        ("found-010407d2b379cd93.json", "can match an empty string"),
        ("found-75181c3004117914.json", "can match an empty string"),
    ] {
        let bytes = std::fs::read(seeds::corpus_dir().join("tokenizer").join(name)).unwrap();
        let clip = sculpt_flux::text::ClipTokenizer::from_json(&bytes).err();
        let t5 = sculpt_flux::text::T5Tokenizer::from_json(&bytes).err();
        for error in [clip.map(|e| e.to_string()), t5.map(|e| e.to_string())] {
            let error = error.unwrap_or_else(|| panic!("{name} loaded"));
            assert!(error.contains(said), "{name}: {error}");
        }
    }
}

#[test]
fn committed_seeds_are_what_the_writers_make() {
    for (target, name, bytes) in seeds::generated() {
        let committed = std::fs::read(seeds::corpus_dir().join(target).join(&name))
            .unwrap_or_else(|e| panic!("{target}/{name}: {e} (sculpt-fuzz --write-seeds)"));
        assert!(
            committed == bytes,
            "{target}/{name} differs from what the writers make now: regenerate with \
             `cargo run -p sculpt-fuzz -- --write-seeds`"
        );
    }
}
