"""Load any tokenizer we count or evaluate with: a `tokenizers` tokenizer.json or a SentencePiece
.model, behind one small interface (batch encode, batch decode, unknown and byte-fallback ids)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from operators.tokenizer.hf import BYTE_TOKENS


class TokenizerHandle:
    """Batch encode/decode with special tokens left out unless asked for."""

    kind = ""
    path: Path
    unk_id: int | None
    byte_ids: np.ndarray
    vocab_size: int

    def encode_batch(self, texts: list[str], add_special_tokens: bool = False) -> list[list[int]]:
        raise NotImplementedError

    def decode_batch(self, ids: list[list[int]]) -> list[str]:
        raise NotImplementedError


class HFTokenizer(TokenizerHandle):
    kind = "tokenizers"

    def __init__(self, path: Path, tokenizer: Any = None):
        from tokenizers import Tokenizer

        self.path = path
        self.tok = tokenizer if tokenizer is not None else Tokenizer.from_file(str(path))
        self.vocab_size = self.tok.get_vocab_size(with_added_tokens=True)
        model = json.loads(self.tok.to_str())["model"]
        if model.get("type") == "Unigram":
            self.unk_id = model.get("unk_id")
        else:
            self.unk_id = self.tok.token_to_id(model["unk_token"]) if model.get("unk_token") else None
        ids = [self.tok.token_to_id(t) for t in BYTE_TOKENS] if model.get("byte_fallback") else []
        self.byte_ids = np.array(sorted(i for i in ids if i is not None), dtype=np.int64)

    def encode_batch(self, texts: list[str], add_special_tokens: bool = False) -> list[list[int]]:
        return [e.ids for e in self.tok.encode_batch_fast(texts, add_special_tokens=add_special_tokens)]

    def decode_batch(self, ids: list[list[int]]) -> list[str]:
        return self.tok.decode_batch(ids, skip_special_tokens=False)


class SentencePieceTokenizer(TokenizerHandle):
    kind = "sentencepiece"

    def __init__(self, path: Path):
        import sentencepiece as spm

        self.path = path
        self.sp = spm.SentencePieceProcessor(model_file=str(path))
        self.vocab_size = self.sp.get_piece_size()
        self.unk_id = self.sp.unk_id()
        self.byte_ids = np.array([i for i in range(self.vocab_size) if self.sp.is_byte(i)], dtype=np.int64)

    def encode_batch(self, texts: list[str], add_special_tokens: bool = False) -> list[list[int]]:
        bos = add_special_tokens and self.sp.bos_id() >= 0
        eos = add_special_tokens and self.sp.eos_id() >= 0
        return self.sp.encode(texts, add_bos=bos, add_eos=eos)

    def decode_batch(self, ids: list[list[int]]) -> list[str]:
        return self.sp.decode(ids)


def resolve_tokenizer_path(path: str | Path) -> Path:
    """A tokenizer.json or .model file, or a folder holding one (tokenizer.json preferred)."""
    p = Path(path)
    if p.is_dir():
        for name in ("tokenizer.json", "tokenizer.model"):
            if (p / name).is_file():
                return p / name
        raise FileNotFoundError(f"{p}: no tokenizer.json or tokenizer.model in this folder")
    if not p.is_file():
        raise FileNotFoundError(f"tokenizer not found: {p}")
    return p


def load_tokenizer(path: str | Path) -> TokenizerHandle:
    p = resolve_tokenizer_path(path)
    if p.suffix == ".model":
        return SentencePieceTokenizer(p)
    try:
        return HFTokenizer(p)
    except Exception as exc:  # tokenizers raises a bare Exception for malformed files
        raise ValueError(f"{p}: not a loadable tokenizers tokenizer.json: {exc}") from exc
