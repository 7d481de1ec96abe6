"""The tokenizer as the `tokenize` step uses it: loaded from tokenizer.json or a SentencePiece
.model, with its end-of-document (and optional beginning) token ids resolved, the storage dtype
chosen from its largest id, and a batch encoder that returns flat arrays, not Python lists."""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from operators.tokenizer.loading import HFTokenizer, SentencePieceTokenizer, TokenizerHandle, resolve_tokenizer_path

INT32_MAX = (1 << 31) - 1
UINT16_IDS = 1 << 16
EOS_CANDIDATES = ("</s>", "<|endoftext|>", "<|end_of_text|>", "<eos>")
BOS_CANDIDATES = ("<s>", "<|begin_of_text|>", "<|endoftext|>", "<bos>")


class TokenizerError(ValueError):
    """The tokenizer cannot be used to write token files (missing, unreadable, no EOS...)."""


@dataclass
class Encoded:
    """A batch of documents as one flat array of token ids (EOS appended, BOS prepended when
    asked) and the number of tokens of each document."""

    tokens: np.ndarray
    lengths: np.ndarray


class TokenEncoder:
    def __init__(self, path: Path, eos_token: str | None, bos_token: str | None, add_bos: bool):
        self.path = _find(path)
        self.handle, self.max_id = _load(self.path)
        self.dtype = np.dtype(np.uint16) if self.max_id < UINT16_IDS else np.dtype(np.int32)
        self.eos_id = self._special(eos_token, EOS_CANDIDATES, "end-of-document (EOS)", "eos_token")
        self.bos_id = self._special(bos_token, BOS_CANDIDATES, "beginning-of-document (BOS)", "bos_token") \
            if add_bos else None
        self.sha256 = hashlib.sha256(self.path.read_bytes()).hexdigest()

    @property
    def specials_per_document(self) -> int:
        return 1 + (self.bos_id is not None)

    def _special(self, name: str | None, candidates: tuple[str, ...], role: str, param: str) -> int:
        if isinstance(self.handle, SentencePieceTokenizer):
            sp = self.handle.sp
            if name is not None:
                found = sp.piece_to_id(name)
                ok = found != sp.unk_id() or name == sp.id_to_piece(sp.unk_id())
                if ok:
                    return int(found)
            else:
                found = sp.eos_id() if param == "eos_token" else sp.bos_id()
                if found >= 0:
                    return int(found)
        else:
            tok = self.handle.tok
            names = [name] if name is not None else [*_config_token(self.path, param), *candidates]
            for candidate in names:
                found = tok.token_to_id(candidate)
                if found is not None:
                    return int(found)
        wanted = repr(name) if name is not None else "none of " + ", ".join(candidates)
        raise TokenizerError(f"tokenizer {self.path} has no {role} token: {wanted} is in its vocabulary; "
                             f"name one with the `{param}` parameter")

    def encode(self, texts: list[str]) -> Encoded:
        ids = self.handle.encode_batch(texts, add_special_tokens=False)
        n = len(ids)
        content = np.fromiter((len(x) for x in ids), dtype=np.int64, count=n)
        flat = np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int64, count=int(content.sum()))
        k = self.specials_per_document
        lengths = content + k
        out = np.empty(int(lengths.sum()), dtype=self.dtype)
        ends = np.cumsum(lengths)
        starts = ends - lengths
        # each content token moves right by the specials of the documents before it (and its BOS)
        shift = np.repeat(starts - (np.cumsum(content) - content), content)
        out[np.arange(len(flat)) + shift + (k - 1)] = flat
        out[ends - 1] = self.eos_id
        if self.bos_id is not None:
            out[starts] = self.bos_id
        return Encoded(out, lengths)


def _find(path: Path) -> Path:
    try:
        return resolve_tokenizer_path(path)
    except FileNotFoundError as exc:
        raise TokenizerError(str(exc)) from None


def _load(path: Path) -> tuple[TokenizerHandle, int]:
    """The tokenizer and its largest id, checked before anything walks the whole vocabulary."""
    try:
        if path.suffix == ".model":
            handle = SentencePieceTokenizer(path)
            return handle, handle.vocab_size - 1
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers and sentencepiece raise bare Exception/RuntimeError/OSError
        raise TokenizerError(f"tokenizer {path} is unreadable: {type(exc).__name__}: {exc}") from None
    # ids need not be dense: the largest one decides the dtype
    max_id = max(tok.get_vocab(with_added_tokens=True).values(), default=0)
    if max_id > INT32_MAX:
        raise TokenizerError(f"tokenizer {path}: largest token id {max_id:,} does not fit in int32 "
                             f"(the widest dtype Megatron-LM token files hold)")
    return HFTokenizer(path, tok), max_id


def _config_token(path: Path, param: str) -> list[str]:
    """The role's token named in tokenizer_config.json beside tokenizer.json, if any."""
    config = path.parent / "tokenizer_config.json"
    if not config.is_file():
        return []
    try:
        value = json.loads(config.read_text(encoding="utf-8")).get(param)
    except (ValueError, UnicodeDecodeError) as exc:
        raise TokenizerError(f"{config}: not valid JSON ({exc}); fix it or name the token with `{param}`") from None
    if isinstance(value, dict):
        value = value.get("content")
    return [value] if isinstance(value, str) and value else []
