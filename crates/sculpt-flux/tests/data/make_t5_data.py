"""Builds the synthetic T5 tokenizer.json for the text tests and checks its hand-worked ids.

Regenerate (from the repository root):

    python3 -m venv /tmp/tokvenv && /tmp/tokvenv/bin/pip install sentencepiece protobuf tokenizers
    /tmp/tokvenv/bin/python crates/sculpt-flux/tests/data/make_t5_data.py

Output, next to this script: t5-synthetic.tokenizer.json, in the layout of the public T5 v1.1
tokenizer.json (black-forest-labs/FLUX.1-schnell tokenizer_2/, as written by transformers'
SentencePiece converter): a Unigram model with `vocab` [[piece, score], ...] and `unk_id` 2, the
special tokens <pad> 0, </s> 1, <unk> 2 and <extra_id_N> at the top of the vocabulary, a
Precompiled normalizer followed by the whitespace cleanup, a Metaspace pre-tokenizer with "▁", and
a TemplateProcessing post-processor appending </s>.

Only the vocabulary is small. The precompiled_charsmap is the real one: SentencePiece's nmt_nfkc
rules (which T5's spiece.model uses), taken from a throwaway model trained here with SentencePiece.

The ids the Rust tests pin for this vocabulary are worked out by hand (the reasoning is in
tests/text/t5.rs); this script asserts that SentencePiece itself and the Python `tokenizers`
package agree with them, as two independent checks of that arithmetic.
"""

import base64
import io
import json
import os

import sentencepiece as spm
from sentencepiece import sentencepiece_model_pb2 as model_pb2
from tokenizers import Tokenizer

HERE = os.path.dirname(os.path.abspath(__file__))

# (piece, log probability). Ids are the positions. Scores are chosen so that each hand-worked
# segmentation below has one clear best path.
VOCAB = [
    ("<pad>", 0.0),
    ("</s>", 0.0),
    ("<unk>", 0.0),
    ("▁", -2.0),
    ("▁a", -3.0),
    ("▁cat", -4.0),
    ("▁photo", -5.0),
    ("▁of", -4.0),
    ("▁the", -3.5),
    ("s", -3.0),
    (".", -3.0),
    (",", -3.5),
    ("▁c", -6.0),
    ("at", -5.0),
    ("a", -6.0),
    ("c", -6.0),
    ("t", -6.0),
    ("▁red", -5.0),
    ("▁ph", -7.0),
    ("oto", -7.0),
]
# The public file ends with <extra_id_99> ... <extra_id_0>; two of them keep that shape here.
EXTRA_IDS = ["<extra_id_1>", "<extra_id_0>"]

# Hand-worked ids (EOS included); tests/text/t5.rs explains each one.
EXPECTED = {
    "a photo of a cat": [4, 6, 7, 4, 5, 1],
    "the cats.": [8, 5, 9, 10, 1],
    "a ｃａｔ": [4, 5, 1],
    "a   red    cat": [4, 17, 5, 1],
    "a dog": [4, 3, 2, 1],
    "Cat": [3, 2, 13, 1],
}


def nmt_nfkc_charsmap():
    corpus = ["a photo of a cat", "the cat sat on the mat", "a red apple", "hello world"] * 50
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus),
        model_writer=model,
        vocab_size=30,
        model_type="unigram",
        normalization_rule_name="nmt_nfkc",
        hard_vocab_limit=False,
        minloglevel=2,
    )
    proto = model_pb2.ModelProto()
    proto.ParseFromString(model.getvalue())
    return proto


def sentencepiece_with_vocab(proto):
    # T5's spiece.model: pad 0, eos 1, unk 2, no bos; extra ids live outside it.
    del proto.pieces[:]
    for index, (piece, score) in enumerate(VOCAB):
        kind = model_pb2.ModelProto.SentencePiece.NORMAL
        if index in (0, 1):
            kind = model_pb2.ModelProto.SentencePiece.CONTROL
        elif index == 2:
            kind = model_pb2.ModelProto.SentencePiece.UNKNOWN
        proto.pieces.add(piece=piece, score=score, type=kind)
    proto.trainer_spec.pad_id, proto.trainer_spec.eos_id = 0, 1
    proto.trainer_spec.unk_id, proto.trainer_spec.bos_id = 2, -1
    return spm.SentencePieceProcessor(model_proto=proto.SerializeToString())


def build_tokenizer_json(charsmap):
    special = dict(single_word=False, lstrip=False, rstrip=False, normalized=False, special=True)
    pieces = VOCAB + [(token, 0.0) for token in EXTRA_IDS]
    specials = ["<pad>", "</s>", "<unk>"] + EXTRA_IDS
    metaspace = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": True}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            dict(id=[p for p, _ in pieces].index(token), content=token, **special) for token in specials
        ],
        "normalizer": {
            "type": "Sequence",
            "normalizers": [
                {"type": "Precompiled", "precompiled_charsmap": base64.b64encode(charsmap).decode("ascii")},
                {"type": "Strip", "strip_left": False, "strip_right": True},
                {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": "▁"},
            ],
        },
        "pre_tokenizer": metaspace,
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}],
            "pair": [
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": "</s>", "type_id": 0}},
                {"Sequence": {"id": "B", "type_id": 0}},
                {"SpecialToken": {"id": "</s>", "type_id": 0}},
            ],
            "special_tokens": {"</s>": {"id": "</s>", "ids": [1], "tokens": ["</s>"]}},
        },
        "decoder": metaspace,
        "model": {"type": "Unigram", "unk_id": 2, "vocab": [[p, s] for p, s in pieces], "byte_fallback": False},
    }


def main():
    proto = nmt_nfkc_charsmap()
    charsmap = proto.normalizer_spec.precompiled_charsmap
    document = build_tokenizer_json(charsmap)
    text = json.dumps(document, ensure_ascii=False, indent=1)
    with open(os.path.join(HERE, "t5-synthetic.tokenizer.json"), "w", encoding="utf-8") as out:
        out.write(text + "\n")

    sentencepiece = sentencepiece_with_vocab(proto)
    hf = Tokenizer.from_str(text)
    for prompt, expected in EXPECTED.items():
        by_sentencepiece = sentencepiece.encode(prompt) + [1]
        by_tokenizers = hf.encode(prompt).ids
        assert by_sentencepiece == expected, (prompt, by_sentencepiece, expected)
        assert by_tokenizers == expected, (prompt, by_tokenizers, expected)
    print(f"{len(EXPECTED)} hand-worked prompts agree; tokenizer.json {len(text)} bytes")


if __name__ == "__main__":
    main()
