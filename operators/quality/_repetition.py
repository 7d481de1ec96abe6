"""Repetition inside each document, for a whole batch at once (no loop over documents).

Pieces (lines, paragraphs, words, characters) get integer ids that are equal exactly when two
pieces are the same string in the same document. Word n-grams are then identified level by
level: the n-gram at position i is the pair (the (n-1)-gram at i, the word at i+n-1), so ids stay
exact (no hashing, no collisions). Only n-grams that occur more than once matter, and an n-gram
can repeat only if both (n-1)-grams inside it repeat, so each level only looks at the positions
that repeated at the level below; in natural text that set shrinks quickly.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from operators.columns import int64_values
from operators.text.splitting import Pieces


def ids_within_docs(values: pa.Array | np.ndarray, parents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(dense id per piece, index of each id's first occurrence). Two pieces share an id iff
    they are equal and in the same document."""
    if isinstance(values, pa.Array | pa.ChunkedArray):
        codes = int64_values(pc.dictionary_encode(values).indices)
    else:
        codes = np.asarray(values, dtype=np.int64)
    if len(codes) == 0:
        return codes, codes
    key = parents * (int(codes.max()) + 1) + codes
    ids, first, _counts = group_keys(key)
    return ids, first


def group_keys(key: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dense group id per element, index of each group's first element, size of each group).
    Group ids follow the sorted key order, so they do not depend on element order. Like
    np.unique(return_index, return_inverse, return_counts) but with an unstable sort (~2x faster)."""
    order = np.argsort(key)
    sorted_key = key[order]
    starts = np.flatnonzero(np.concatenate([[True], sorted_key[1:] != sorted_key[:-1]]))
    ids_sorted = np.cumsum(np.concatenate([[0], (sorted_key[1:] != sorted_key[:-1]).astype(np.int64)]))
    ids = np.empty(len(key), dtype=np.int64)
    ids[order] = ids_sorted
    first = np.minimum.reduceat(order, starts)
    counts = np.diff(np.concatenate([starts, [len(key)]]))
    return ids, first, counts


def repeated_pieces(pieces: Pieces) -> tuple[np.ndarray, np.ndarray]:
    """Per document: (pieces equal to an earlier piece of the document, their characters).
    The first occurrence of a string is not a repeat; every later one is."""
    if len(pieces) == 0:
        zero = np.zeros(pieces.num_docs, dtype=np.int64)
        return zero, zero
    _ids, first = ids_within_docs(pieces.values, pieces.parents())
    repeat = np.ones(len(pieces), dtype=bool)
    repeat[first] = False
    return pieces.sum(repeat), pieces.sum(pieces.lengths() * repeat)


@dataclass
class RepeatedNgrams:
    """The occurrences of the n-grams that occur more than once in their document, for one n."""

    n: int
    starts: np.ndarray  # global position of each such occurrence's first unit
    group: np.ndarray  # id of the n-gram (same id = same n-gram, same document)
    group_count: np.ndarray  # occurrences per group id


class NgramIndex:
    """Repeated n-grams over a sequence of units (words, or characters) per document."""

    def __init__(self, units: pa.Array | np.ndarray, offsets: np.ndarray):
        self.offsets = offsets
        self.num_docs = len(offsets) - 1
        counts = np.diff(offsets)
        self.size = int(offsets[-1])
        self.parents = np.repeat(np.arange(self.num_docs, dtype=np.int64), counts)
        self.unit_ids, _ = ids_within_docs(units, self.parents)
        self.num_unit_ids = int(self.unit_ids.max()) + 1 if self.size else 0

    def ngrams_per_doc(self, n: int) -> np.ndarray:
        """How many n-grams (positions) each document has."""
        return np.maximum(np.diff(self.offsets) - n + 1, 0)

    def repeated(self, max_n: int) -> Iterator[RepeatedNgrams]:
        """Repeated n-grams for n = 1..max_n, in order."""
        if self.size == 0:
            return
        ids = self.unit_ids
        counts = np.bincount(ids)
        rep = counts[ids] > 1
        starts = np.flatnonzero(rep)
        group = ids[starts]
        yield RepeatedNgrams(1, starts, group, counts)
        level = np.full(self.size + 1, -1, dtype=np.int64)  # id of the n-gram at each position (-1: not repeated)
        for n in range(2, max_n + 1):
            level[:] = -1
            level[starts] = group
            nxt = starts + 1
            ok = (level[nxt] >= 0) & (self.parents[np.minimum(nxt, self.size - 1)] == self.parents[starts])
            cand = starts[ok]
            if len(cand) == 0:
                starts = cand
                group = cand
                yield RepeatedNgrams(n, cand, cand, np.zeros(0, dtype=np.int64))
                continue
            key = level[cand] * self.num_unit_ids + self.unit_ids[cand + n - 1]
            inverse, _first, group_count = group_keys(key)
            rep = group_count[inverse] > 1
            starts = cand[rep]
            group = inverse[rep]
            yield RepeatedNgrams(n, starts, group, group_count)

    def ngram_ids(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(start positions of all n-grams, exact n-gram id per position) by doubling: ids of
        2^k-grams are pairs of 2^(k-1)-gram ids, and n = a sum of powers of two. Costs about
        log2(n) + popcount(n) groupings of all positions, whatever the text (the level-by-level
        pruning of `repeated` degenerates on very repetitive text such as character n-grams)."""
        counts = np.diff(self.offsets)
        pos = np.arange(self.size, dtype=np.int64) - np.repeat(self.offsets[:-1], counts)
        room = np.repeat(counts, counts) - pos  # units from position i to its document's end
        levels = {1: self.unit_ids}
        width = 1
        while width * 2 <= n:
            prev = levels[width]
            ok = np.flatnonzero(room >= 2 * width)
            ids = np.full(self.size, -1, dtype=np.int64)
            if len(ok):
                ids[ok] = group_keys(prev[ok] * (int(prev.max()) + 1) + prev[ok + width])[0]
            width *= 2
            levels[width] = ids
        current, done = levels[width], width
        while done < n:
            part = max(p for p in levels if p <= n - done)
            ok = np.flatnonzero(room >= done + part)
            ids = np.full(self.size, -1, dtype=np.int64)
            if len(ok):
                tail = levels[part]
                ids[ok] = group_keys(current[ok] * (int(tail.max()) + 1) + tail[ok + done])[0]
            current, done = ids, done + part
        starts = np.flatnonzero(room >= n)
        return starts, current[starts]

    def covered_sum(self, starts: np.ndarray, n: int, unit_cum: np.ndarray) -> np.ndarray:
        """Per document: sum of a per-unit weight over the units inside at least one of the
        n-grams starting at `starts` (ascending), each unit counted once. `unit_cum` is the
        cumulative weight (length size + 1). O(len(starts)): overlapping n-grams are clipped at
        the next start, which is never in an earlier document since n-grams stay inside theirs."""
        if len(starts) == 0:
            return np.zeros(self.num_docs, dtype=unit_cum.dtype)
        ends = np.minimum(starts + n, np.append(starts[1:], self.size))
        return np.bincount(self.parents[starts], weights=unit_cum[ends] - unit_cum[starts],
                           minlength=self.num_docs).astype(unit_cum.dtype)

    def per_doc_max(self, positions: np.ndarray, values: np.ndarray) -> np.ndarray:
        out = np.zeros(self.num_docs, dtype=np.int64)
        if len(positions):
            np.maximum.at(out, self.parents[positions], values)
        return out
