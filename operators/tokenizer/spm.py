"""SentencePiece training (BPE and unigram) and its export to a `tokenizers` tokenizer.json.

Two uses:
- `sentencepiece_bpe` / `sentencepiece_unigram`: the SentencePiece model is the artifact
  (tokenizer.model, tokenizer.vocab); tokenizer.json reproduces its encoding with `tokenizers`
  (SentencePiece's precompiled normalization map, whitespace rules, pieces and scores).
- `unigram`: a `tokenizers` Unigram tokenizer (our normalizers, Metaspace pre-tokenizer) whose
  pieces and scores come from SentencePiece's unigram trainer. tokenizers' own UnigramTrainer
  collects its sentences from a hash map (`word_counts.into_iter().collect()` in
  tokenizers/src/models/unigram/trainer.rs), so its output changes from run to run, and its
  E-step runs on one thread; its maintainers recommend training unigram models with
  SentencePiece and converting them (huggingface/tokenizers#1103).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from operators.tokenizer.hf import hf_decoder, hf_normalizer, hf_pre_tokenizer

if TYPE_CHECKING:
    from tokenizers import Tokenizer

    from operators.tokenizer.train import TrainTokenizer

# SentencePiece skips longer sentences (its default limit is 4192 bytes); documents are cut at
# whitespace into pieces no longer than this so that no text is skipped silently.
MAX_SENTENCE_BYTES = 16384
ROLE_IDS = {"<s>": "bos", "</s>": "eos", "<pad>": "pad"}


def chunk_document(text: str, limit: int = MAX_SENTENCE_BYTES) -> Iterator[str]:
    """Cut a document into pieces of at most `limit` UTF-8 bytes, at a space when one is near."""
    if len(text) * 4 <= limit or len(text.encode("utf-8")) <= limit:
        yield text
        return
    step = limit // 4  # characters: a UTF-8 character has at most 4 bytes
    start = 0
    while start < len(text):
        end = min(len(text), start + step)
        if end < len(text):
            cut = text.rfind(" ", start + step // 2, end)
            end = cut if cut > start else end
        yield text[start:end]
        start = end


def arrow_normalize(form: str, lowercase: bool, strip_accents: bool):
    """The same normalization as `hf_normalizer` (non-BERT), vectorized with Arrow, for text that
    is fed to SentencePiece's trainer with its `identity` rule."""

    def apply(text: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
        if form in ("nfc", "nfkc"):
            text = pc.utf8_normalize(text, form=form.upper())
        if strip_accents:
            text = pc.replace_substring_regex(pc.utf8_normalize(text, form="NFD"), r"\p{Mn}", "")
            text = pc.utf8_normalize(text, form="NFKC" if form == "nfkc" else "NFC")
        if lowercase:
            text = pc.utf8_lower(text)
        return text

    return apply


def sentences(batches: Iterable[list[str]]) -> Iterator[str]:
    for texts in batches:
        for text in texts:
            if text:
                yield from chunk_document(text)


def spm_rule(op: TrainTokenizer) -> str:
    """SentencePiece's normalization rule for our settings (validated in TrainTokenizer)."""
    if op.algorithm == "unigram" or op.normalization == "none":
        return "identity"
    return "nfkc_cf" if op.lowercase else "nfkc"


def train_sentencepiece(op: TrainTokenizer, batches: Iterable[list[str]], prefix: Path) -> Path:
    """Train; write `<prefix>.model` and `<prefix>.vocab` (piece, tab, score); return the .model path.

    The model goes through `model_writer` rather than `model_prefix`: SentencePiece records the
    prefix path inside the model, which would make identical trainings differ by their folder."""
    import io

    import sentencepiece as spm

    specials = list(op.special_tokens or [])
    ids = {"unk_id": specials.index(op.unk_token), "bos_id": -1, "eos_id": -1, "pad_id": -1}
    user_defined = []
    for i, tok in enumerate(specials):
        role = ROLE_IDS.get(tok) if op.algorithm != "unigram" else None
        if tok == op.unk_token:
            continue
        if role is not None:
            ids[f"{role}_id"] = i
        else:
            user_defined.append(tok)  # SentencePiece fills the free ids in this order
    spm.set_random_generator_seed(op.seed)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    hf_unigram = op.algorithm == "unigram"
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=sentences(batches),
        model_writer=model,
        model_type="bpe" if op.algorithm == "sentencepiece_bpe" else "unigram",
        vocab_size=op.vocab_size,
        character_coverage=op.character_coverage,
        byte_fallback=op.byte_fallback,
        split_digits=op.split_digits,
        max_sentencepiece_length=op.max_token_length,
        normalization_rule_name=spm_rule(op),
        # the tokenizers Metaspace pre-tokenizer keeps runs of spaces, so the trainer must see them
        remove_extra_whitespaces=not hf_unigram,
        unk_piece=op.unk_token,
        user_defined_symbols=user_defined,
        num_threads=op.threads,
        hard_vocab_limit=False,
        max_sentence_length=MAX_SENTENCE_BYTES,
        input_sentence_size=0,
        shuffle_input_sentence=False,
        minloglevel=2,
        **ids,
    )
    model_path = prefix.with_suffix(".model")
    model_path.write_bytes(model.getvalue())
    sp = spm.SentencePieceProcessor(model_proto=model.getvalue())
    lines = (f"{sp.id_to_piece(i)}\t{sp.get_score(i):g}\n" for i in range(sp.get_piece_size()))
    prefix.with_suffix(".vocab").write_text("".join(lines), encoding="utf-8")
    return model_path


# ---- reading the model file ---------------------------------------------------------------


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value) of one protobuf message; enough to read a .model file."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 2:
            size, pos = _varint(buf, pos)
            value, pos = buf[pos:pos + size], pos + size
        elif wire == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        else:
            raise ValueError(f"SentencePiece model: unsupported protobuf wire type {wire}")
        yield number, wire, value


def precompiled_charsmap(model: bytes) -> bytes:
    """ModelProto.normalizer_spec (field 3) .precompiled_charsmap (field 2); empty for `identity`."""
    for number, wire, value in _fields(model):
        if number == 3 and wire == 2:
            for n2, w2, v2 in _fields(value):
                if n2 == 2 and w2 == 2:
                    return bytes(v2)
    return b""


# ---- export to tokenizers --------------------------------------------------------------------


def _pieces(sp: Any) -> list[tuple[str, float, str]]:
    """(piece, score, kind) per id; kind is unknown, control, byte, user or normal."""
    out = []
    for i in range(sp.get_piece_size()):
        if sp.is_unknown(i):
            kind = "unknown"
        elif sp.is_control(i):
            kind = "control"
        elif sp.is_byte(i):
            kind = "byte"
        else:
            kind = "normal"
        out.append((sp.id_to_piece(i), float(sp.get_score(i)), kind))
    return out


def _bpe_merges(pieces: list[tuple[str, float, str]], normal_ids: dict[str, int]) -> list[tuple[str, str]]:
    """SentencePiece BPE keeps no merge list: it merges the adjacent pair whose concatenation is
    the highest-scoring piece. Every split of a piece into two pieces is a merge, ranked by the
    merged piece's score (then id)."""
    ranked = []
    for piece, score, _kind in pieces:
        pid = normal_ids.get(piece)
        if pid is None or len(piece) < 2:
            continue
        for cut in range(1, len(piece)):
            left, right = piece[:cut], piece[cut:]
            if left in normal_ids and right in normal_ids:
                ranked.append((-score, pid, normal_ids[left], normal_ids[right], left, right))
    ranked.sort()
    return [(r[4], r[5]) for r in ranked]


def tokenizer_from_sentencepiece(op: TrainTokenizer, model_path: Path) -> Tokenizer:
    """A tokenizers Tokenizer equivalent to the trained SentencePiece model."""
    import sentencepiece as spm
    from tokenizers import AddedToken, Regex, Tokenizer, models
    from tokenizers import normalizers as n

    model_bytes = model_path.read_bytes()
    sp = spm.SentencePieceProcessor(model_proto=model_bytes)
    pieces = _pieces(sp)
    specials = list(op.special_tokens or [])
    for tok in specials:  # user-defined symbols are matched in text like special tokens
        if sp.piece_to_id(tok) == sp.unk_id() and tok != op.unk_token:
            raise RuntimeError(f"special token {tok!r} is missing from the trained SentencePiece model")
    special_set = set(specials)
    if op.algorithm == "sentencepiece_bpe":
        vocab = {piece: i for i, (piece, _s, _k) in enumerate(pieces)}
        normal_ids = {p: i for i, (p, _s, k) in enumerate(pieces) if k == "normal" and p not in special_set}
        model = models.BPE(vocab=vocab, merges=_bpe_merges(pieces, normal_ids), unk_token=op.unk_token,
                           fuse_unk=True, byte_fallback=op.byte_fallback)
    else:
        model = models.Unigram([(p, s) for p, s, _k in pieces], unk_id=sp.unk_id(), byte_fallback=op.byte_fallback)
    tok = Tokenizer(model)
    if op.algorithm == "unigram":
        tok.normalizer = hf_normalizer(op.normalization, bool(op.lowercase), bool(op.strip_accents))
    else:
        steps: list[Any] = []
        charsmap = precompiled_charsmap(model_bytes)
        if charsmap:
            steps.append(n.Precompiled(charsmap))
        # SentencePiece's remove_extra_whitespaces: no leading/trailing spaces, runs become one
        steps += [n.Replace(Regex(r"\A +| +\z"), ""), n.Replace(Regex(" {2,}"), " ")]
        tok.normalizer = n.Sequence(steps)
    tok.pre_tokenizer = hf_pre_tokenizer("metaspace", op.split_digits)
    tok.decoder = hf_decoder("metaspace", op.byte_fallback)
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    return tok
