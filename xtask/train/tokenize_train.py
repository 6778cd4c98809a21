"""Trains sculpt-tiny's two tokenizers on the training captions with Hugging Face `tokenizers`
(the Python binding of the `tokenizers` crate Sculpt itself uses):

* a CLIP-style byte-level BPE whose words end in `</w>`, lowercasing like CLIP-L's, with
  `<|startoftext|>` and `<|endoftext|>` added last so that `<|endoftext|>` has the highest id
  (the CLIP text model pools at argmax(ids));
* a T5-style Unigram with `<pad>` = 0, `</s>` = 1, `<unk>` = 2 and a Metaspace pre-tokenizer.
"""

import json

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

CLIP_SPLIT = (r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]"
              r"|[^\s\p{L}\p{N}]+")


def train_clip(captions, vocab_size):
    tok = Tokenizer(models.BPE(end_of_word_suffix="</w>", continuing_subword_prefix=""))
    tok.normalizer = normalizers.Sequence(
        [normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(CLIP_SPLIT), behavior="removed", invert=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - 2, min_frequency=1, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), end_of_word_suffix="</w>",
        special_tokens=[])
    tok.train_from_iterator(captions, trainer)
    tok.add_special_tokens(["<|startoftext|>", "<|endoftext|>"])
    assert tok.token_to_id("<|endoftext|>") == tok.get_vocab_size() - 1
    return tok


def train_t5(captions, vocab_size):
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.Sequence(
        [normalizers.NFKC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size, show_progress=False, special_tokens=["<pad>", "</s>", "<unk>"],
        unk_token="<unk>", max_piece_length=16)
    tok.train_from_iterator(captions, trainer)
    assert (tok.token_to_id("<pad>"), tok.token_to_id("</s>"), tok.token_to_id("<unk>")) == (0, 1, 2)
    return tok


class ClipIds:
    """CLIP ids as Sculpt's ClipTokenizer makes them: <|startoftext|>, prompt, <|endoftext|>,
    then <|endoftext|> padding up to `length` (77 in Sculpt; causal attention makes the pooled
    output independent of what follows the first <|endoftext|>, so training uses fewer)."""

    def __init__(self, tok):
        self.tok = tok
        self.bos = tok.token_to_id("<|startoftext|>")
        self.eos = tok.token_to_id("<|endoftext|>")

    def __call__(self, text, length):
        ids = self.tok.encode(text, add_special_tokens=False).ids[: length - 2]
        ids = [self.bos] + ids + [self.eos]
        return ids + [self.eos] * (length - len(ids))


class T5Ids:
    """T5 ids as Sculpt's T5Tokenizer makes them: prompt, </s>, then <pad> (0) to `length`."""

    def __init__(self, tok):
        self.tok = tok
        self.eos = tok.token_to_id("</s>")
        self.pad = tok.token_to_id("<pad>")

    def __call__(self, text, length):
        ids = self.tok.encode(text, add_special_tokens=False).ids[: length - 1] + [self.eos]
        return ids + [self.pad] * (length - len(ids))


def save(tok, path):
    # Compact but stable JSON (the Rust side parses it with `Tokenizer::from_bytes`).
    data = json.loads(tok.to_str())
    with open(path, "w") as f:
        json.dump(data, f, ensure_ascii=False, separators=(",", ":"))
