"""Sentences as word ids, spilled to disk in chunks, so that n-gram counting streams.

A chunk is one flat int32 array holding whole sentences, each as `<s> w1 ... wn </s>`; chunks
never split a sentence, so no n-gram crosses a chunk. Word ids 0, 1, 2 are `<unk>`, `<s>` and
`</s>` (KenLM's and SentencePiece's default numbering).
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

UNK, BOS, EOS = 0, 1, 2
SPECIAL_WORDS = ("<unk>", "<s>", "</s>")


class WordVocab:
    """Whitespace-separated words to ids. `<s>`, `</s>` and `<unk>` in the text are skipped,
    as `lmplz --skip_symbols` does (they would collide with the model's own symbols)."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {w: i for i, w in enumerate(SPECIAL_WORDS)}
        self.words: list[str] = list(SPECIAL_WORDS)

    def encode(self, lines: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Flat word ids of all lines and each line's length."""
        ids = self.ids
        words = self.words
        flat: list[int] = []
        lengths = np.zeros(len(lines), dtype=np.int64)
        for k, line in enumerate(lines):
            before = len(flat)
            for w in line.split():
                i = ids.get(w)
                if i is None:
                    i = ids[w] = len(words)
                    words.append(w)
                elif i < 3:
                    continue
                flat.append(i)
            lengths[k] = len(flat) - before
        return np.asarray(flat, dtype=np.int32), lengths


def flat_from_lists(id_lists: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Flat ids and lengths from a list of id lists (e.g. SentencePiece's batch encode)."""
    lengths = np.fromiter((len(x) for x in id_lists), dtype=np.int64, count=len(id_lists))
    flat = np.fromiter(itertools.chain.from_iterable(id_lists), dtype=np.int32, count=int(lengths.sum()))
    return flat, lengths


def with_boundaries(flat: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """`<s> w.. </s>` per sentence, flattened: each sentence grows by two ids."""
    n = len(lengths)
    out = np.empty(len(flat) + 2 * n, dtype=np.int32)
    starts = np.zeros(n, dtype=np.int64)
    if n:
        starts[1:] = np.cumsum(lengths + 2)[:-1]
    out[starts] = BOS
    out[starts + lengths + 1] = EOS
    word_pos = np.ones(len(out), dtype=bool)
    word_pos[starts] = False
    word_pos[starts + lengths + 1] = False
    out[word_pos] = flat
    return out


class TokenSpool:
    """Collects sentences (flat ids + lengths per batch) into chunk files of about
    `chunk_tokens` ids; `chunks()` reads them back one at a time."""

    def __init__(self, folder: Path | None = None, chunk_tokens: int = 4_000_000):
        self._own = folder is None
        self.folder = Path(tempfile.mkdtemp(prefix="lm-spool-")) if folder is None else Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.chunk_tokens = chunk_tokens
        self.files: list[Path] = []
        self._pending: list[np.ndarray] = []
        self._pending_size = 0
        self.tokens = 0  # words, without <s> and </s>
        self.sentences = 0

    def add(self, flat: np.ndarray, lengths: np.ndarray, skip_empty: bool = True) -> None:
        """Add sentences; ids must be >= 3 (specials are not words). Empty sentences are
        dropped unless `skip_empty` is false (lmplz counts an empty line as `<s> </s>`)."""
        if skip_empty and len(lengths) and (lengths == 0).any():
            lengths = lengths[lengths > 0]
        if not len(lengths):
            return
        block = with_boundaries(flat, lengths)
        self.tokens += len(flat)
        self.sentences += len(lengths)
        self._pending.append(block)
        self._pending_size += len(block)
        if self._pending_size >= self.chunk_tokens:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        path = self.folder / f"chunk-{len(self.files):05d}.npy"
        np.save(path, np.concatenate(self._pending))
        self.files.append(path)
        self._pending = []
        self._pending_size = 0

    def close(self) -> None:
        self._flush()

    def chunks(self) -> Iterator[np.ndarray]:
        self._flush()
        for path in self.files:
            yield np.load(path)

    def cleanup(self) -> None:
        if self._own:
            shutil.rmtree(self.folder, ignore_errors=True)


def spool_word_lines(lines: Iterable[str], spool: TokenSpool, vocab: WordVocab, batch: int = 10_000) -> None:
    """Whitespace-tokenized lines into the spool, `batch` lines at a time."""
    buf: list[str] = []
    for line in lines:
        buf.append(line)
        if len(buf) >= batch:
            spool.add(*vocab.encode(buf))
            buf = []
    if buf:
        spool.add(*vocab.encode(buf))
    spool.close()
