"""Byte-level BPE and WordPiece trained with HF `tokenizers`, plus the normalizer, pre-tokenizer and
decoder pieces that every tokenizer.json we write is assembled from."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from tokenizers import Tokenizer

    from operators.tokenizer.train import TrainTokenizer

META = "\u2581"  # "▁", SentencePiece's whitespace symbol
BYTE_TOKENS = [f"<0x{b:02X}>" for b in range(256)]


def hf_normalizer(form: str, lowercase: bool, strip_accents: bool, bert: bool = False) -> Any:
    """NFC/NFKC, accents stripped (NFD, drop combining marks, recompose), lowercase. `bert` uses
    BERT's normalizer (control characters removed, CJK characters isolated) for the last two."""
    from tokenizers import normalizers as n

    steps: list[Any] = []
    if form == "nfc":
        steps.append(n.NFC())
    elif form == "nfkc":
        steps.append(n.NFKC())
    if bert:
        steps.append(n.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=strip_accents,
                                      lowercase=lowercase))
    else:
        if strip_accents:
            steps += [n.NFD(), n.StripAccents()] + ([n.NFKC()] if form == "nfkc" else [n.NFC()])
        if lowercase:
            steps.append(n.Lowercase())
    if not steps:
        return None
    return steps[0] if len(steps) == 1 else n.Sequence(steps)


def hf_pre_tokenizer(kind: str, split_digits: bool) -> Any:
    from tokenizers import pre_tokenizers as p

    if kind == "byte_level":
        base = p.ByteLevel(add_prefix_space=False, use_regex=True)
        # digits are split off first; the GPT-2 regex then runs inside each piece
        return p.Sequence([p.Digits(individual_digits=True), base]) if split_digits else base
    if kind == "metaspace":
        # "first": only the first section gets the "▁" prefix, as SentencePiece does around special tokens
        base = p.Metaspace(replacement=META, prepend_scheme="first", split=True)
    elif kind == "bert":
        base = p.BertPreTokenizer()
    elif kind == "whitespace":
        base = p.Whitespace()
    else:
        raise ValueError(f"unknown pre_tokenizer {kind!r}")
    return p.Sequence([base, p.Digits(individual_digits=True)]) if split_digits else base


def hf_decoder(kind: str, byte_fallback: bool) -> Any:
    from tokenizers import decoders as d

    if kind == "byte_level":
        return d.ByteLevel()
    if kind == "metaspace":
        if not byte_fallback:
            return d.Metaspace(replacement=META, prepend_scheme="first")
        # bytes must be fused into characters before "▁" handling; the Metaspace decoder drops
        # every "▁" of a fused token, so spaces are restored by Replace and the prefix stripped
        return d.Sequence([d.Replace(META, " "), d.ByteFallback(), d.Fuse(), d.Strip(" ", 1, 0)])
    return d.WordPiece(prefix="##", cleanup=True)


def count_code_points(batches: Iterable[list[str]]) -> np.ndarray:
    """How often each Unicode code point occurs (vectorized over UTF-32 code units)."""
    counts = np.zeros(0x110000, dtype=np.int64)
    for texts in batches:
        if texts:
            units = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32)
            counts += np.bincount(units, minlength=0x110000)
    return counts


def continuation_tokens(counts: np.ndarray, normalizer: Any, prefix: str = "##") -> list[str]:
    """`##c` for every character c the normalized training text can contain, sorted."""
    chars: set[str] = set()
    for cp in np.flatnonzero(counts):
        ch = chr(int(cp))
        chars.update(normalizer.normalize_str(ch) if normalizer is not None else ch)
    return [prefix + c for c in sorted(c for c in chars if not c.isspace())]


def train_hf(op: TrainTokenizer, texts: Callable[[], Iterator[list[str]]],
             char_pass: Callable[[], Iterator[list[str]]]) -> Tokenizer:
    """Train `bpe` or `wordpiece`. `texts()` streams the training sample; `char_pass()` streams it
    once more for WordPiece (see below)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers

    specials = list(op.special_tokens or [])
    bert = op.algorithm == "wordpiece" and op.pre_tokenizer == "bert"
    normalizer = hf_normalizer(op.normalization, bool(op.lowercase), bool(op.strip_accents), bert=bert)
    byte_fallback = op.byte_fallback and op.algorithm == "bpe"
    target = op.vocab_size - (len(BYTE_TOKENS) if byte_fallback else 0)
    registered: list[str] = []
    if op.algorithm == "bpe":
        tok = Tokenizer(models.BPE(unk_token=op.unk_token))
        alphabet = pre_tokenizers.ByteLevel.alphabet() if op.pre_tokenizer == "byte_level" else []
        trainer = trainers.BpeTrainer(vocab_size=target, min_frequency=op.min_frequency, show_progress=False,
                                      special_tokens=specials, initial_alphabet=alphabet,
                                      max_token_length=op.max_token_length)
    else:
        tok = Tokenizer(models.WordPiece(unk_token=op.unk_token, max_input_chars_per_word=100))
        # tokenizers' BPE/WordPiece trainer creates the "##c" tokens in hash-map order, and their
        # ids break ties between equally frequent merges, so the result changes from run to run
        # (huggingface/tokenizers#1794). Registering every "##c" up front, in sorted order, fixes
        # their ids; they are turned back into ordinary vocabulary entries after training.
        registered = continuation_tokens(count_code_points(char_pass()), normalizer)
        trainer = trainers.WordPieceTrainer(vocab_size=target, min_frequency=op.min_frequency, show_progress=False,
                                            special_tokens=specials + registered, continuing_subword_prefix="##")
    if normalizer is not None:
        tok.normalizer = normalizer
    tok.pre_tokenizer = hf_pre_tokenizer(op.pre_tokenizer, op.split_digits)
    tok.decoder = hf_decoder("wordpiece" if op.algorithm == "wordpiece" else op.pre_tokenizer, byte_fallback)
    tok.train_from_iterator(texts(), trainer)

    if registered or byte_fallback:  # edits the trained tokenizer's JSON
        data = json.loads(tok.to_str())
        if registered:
            keep = set(registered)
            data["added_tokens"] = [t for t in data["added_tokens"] if t["content"] not in keep]
        if byte_fallback:
            vocab = data["model"]["vocab"]
            for piece in BYTE_TOKENS:
                if piece not in vocab:
                    vocab[piece] = len(vocab)
            data["model"]["byte_fallback"] = True
        tok = Tokenizer.from_str(json.dumps(data, ensure_ascii=False))
    if op.pre_tokenizer == "byte_level":
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    elif op.algorithm == "wordpiece" and "[CLS]" in specials and "[SEP]" in specials:
        cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return tok
