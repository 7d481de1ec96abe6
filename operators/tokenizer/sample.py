"""A deterministic, seeded document sample for tokenizer training, taken in two streaming passes.

Pass 1 reads document keys (and, for a byte budget, text lengths), ranks every document by a
seeded 64-bit hash of its `_doc_key` and keeps only the lowest-ranked candidates: the first
`held_out_documents` form the held-out evaluation set, the next ones the training set (up to
`max_documents` and/or `max_bytes`). Memory is bounded by the sample size, never the corpus.
Pass 2 streams the training texts in corpus order and writes the held-out rows to a Parquet file.

Ranking by a hash of the key (bottom-k sampling) makes the sample a uniform random one that
depends only on the seed and the documents, not on shard boundaries, batch sizes or workers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from operators.base import DOC_KEY, TEXT, ShardInput

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def seeded_hash(keys: np.ndarray, seed: int) -> np.ndarray:
    """splitmix64 finalizer of (key + seed * golden ratio): a fast, well-mixed uint64 per key."""
    with np.errstate(over="ignore"):
        z = keys.astype(np.uint64) + np.uint64(seed % (1 << 64)) * _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        return z ^ (z >> np.uint64(31))


@dataclass
class Sample:
    """Which documents train and which are held out (sorted `_doc_key`s)."""

    held_out: np.ndarray
    train: np.ndarray | None  # None: every document that is not held out
    seen_documents: int = 0

    def is_train(self, keys: np.ndarray) -> np.ndarray:
        if self.train is None:
            return ~_member(keys, self.held_out)
        return _member(keys, self.train)

    def is_held_out(self, keys: np.ndarray) -> np.ndarray:
        return _member(keys, self.held_out)


def _member(keys: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    if sorted_set.size == 0:
        return np.zeros(keys.shape, dtype=bool)
    pos = np.searchsorted(sorted_set, keys)
    pos[pos == sorted_set.size] = 0
    return sorted_set[pos] == keys


@dataclass
class _Candidates:
    """The lowest-hash documents seen so far, trimmed to what the sample can still use."""

    held_out: int
    max_documents: int | None
    max_bytes: int | None
    hashes: list[np.ndarray] = field(default_factory=list)
    keys: list[np.ndarray] = field(default_factory=list)
    sizes: list[np.ndarray] = field(default_factory=list)
    pending: int = 0
    kept: int = 0

    def add(self, h: np.ndarray, k: np.ndarray, b: np.ndarray) -> None:
        self.hashes.append(h)
        self.keys.append(k)
        self.sizes.append(b)
        self.pending += len(h)
        if self.pending > 2 * self.kept + (1 << 16):
            self.trim()

    def trim(self) -> tuple[np.ndarray, np.ndarray]:
        """Sort by (hash, key), cut to the sample, and return (held-out keys, training keys)."""
        h = np.concatenate(self.hashes) if self.hashes else np.zeros(0, np.uint64)
        k = np.concatenate(self.keys) if self.keys else np.zeros(0, np.int64)
        b = np.concatenate(self.sizes) if self.sizes else np.zeros(0, np.int64)
        order = np.lexsort((k, h))
        h, k, b = h[order], k[order], b[order]
        n_train = len(h) - min(self.held_out, len(h))
        if self.max_documents is not None:
            n_train = min(n_train, self.max_documents)
        if self.max_bytes is not None:
            before = np.cumsum(b[self.held_out:]) - b[self.held_out:]  # bytes of the training docs before each one
            n_train = min(n_train, int(np.searchsorted(before, self.max_bytes, side="left")))
        if self.max_documents is None and self.max_bytes is None:
            n_train = 0  # the training set is "everything else": only the held-out ranks are kept
        end = min(len(h), self.held_out + n_train)
        self.hashes, self.keys, self.sizes = [h[:end]], [k[:end]], [b[:end]]
        self.pending = self.kept = end
        held = np.sort(k[: min(self.held_out, end)])
        train = np.sort(k[min(self.held_out, end): end])
        return held, train


def select_sample(
    shards: Iterable[ShardInput],
    seed: int,
    held_out_documents: int,
    max_documents: int | None,
    max_bytes: int | None,
) -> Sample:
    """Pass 1: choose the held-out and training documents (reads keys, and text only for a byte budget)."""
    cands = _Candidates(held_out_documents, max_documents, max_bytes)
    columns = [TEXT, DOC_KEY] if max_bytes is not None else [DOC_KEY]
    seen = 0
    for shard in shards:
        for batch in shard.batches(columns):
            keys = batch.column(DOC_KEY).to_numpy()
            if max_bytes is not None:
                sizes = pc.fill_null(pc.binary_length(batch.column(TEXT)), 0).to_numpy().astype(np.int64)
            else:
                sizes = np.zeros(len(keys), np.int64)
            cands.add(seeded_hash(keys, seed), keys, sizes)
            seen += len(keys)
    held, train = cands.trim()
    return Sample(held, train if (max_documents is not None or max_bytes is not None) else None, seen)


@dataclass
class StreamCounts:
    documents: int = 0
    bytes: int = 0


def stream_training_texts(
    shards: Callable[[], Iterable[ShardInput]],
    sample: Sample,
    counts: StreamCounts | None = None,
    held_out_path: Path | None = None,
    transform: Callable[[pa.ChunkedArray], pa.ChunkedArray] | None = None,
) -> Iterator[list[str]]:
    """Pass 2: the training texts in corpus order, one list per batch; held-out rows (text and
    key, untransformed) go to `held_out_path` when given, so that evaluation can stream them
    later. `transform` rewrites the training texts (counts are taken before it)."""
    writer: pq.ParquetWriter | None = None
    schema = pa.schema([(TEXT, pa.string()), (DOC_KEY, pa.int64())])
    try:
        if held_out_path is not None:
            held_out_path.parent.mkdir(parents=True, exist_ok=True)
            writer = pq.ParquetWriter(held_out_path, schema, compression="zstd")
        for shard in shards():
            for batch in shard.batches([TEXT, DOC_KEY]):
                keys = batch.column(DOC_KEY).to_numpy()
                text = pc.fill_null(batch.column(TEXT), "")
                if writer is not None:
                    held = sample.is_held_out(keys)
                    if held.any():
                        mask = pa.array(held)
                        writer.write_table(pa.table({TEXT: text.filter(mask), DOC_KEY: pa.array(keys[held])}, schema=schema))
                train_mask = sample.is_train(keys)
                if not train_mask.any():
                    continue
                chosen = text.filter(pa.array(train_mask)) if not train_mask.all() else text
                if counts is not None:
                    counts.documents += len(chosen)
                    counts.bytes += int(pc.sum(pc.binary_length(chosen)).as_py() or 0)
                yield (transform(chosen) if transform is not None else chosen).to_pylist()
    finally:
        if writer is not None:
            writer.close()


def held_out_batches(path: Path, batch_size: int = 1000) -> Iterator[list[str]]:
    """The held-out texts written by `stream_training_texts`, in batches."""
    if not path.exists():
        return
    pf = pq.ParquetFile(path)
    for batch in pf.iter_batches(batch_size=batch_size, columns=[TEXT]):
        yield batch.column(0).to_pylist()
