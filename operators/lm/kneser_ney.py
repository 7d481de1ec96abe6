"""Interpolated modified Kneser-Ney estimation, as KenLM's `lmplz` does it, on numpy arrays.

Counting streams over a `TokenSpool` one order at a time. An n-gram of order n is identified
by the id of its (n-1)-word prefix and its last word, packed in one uint64 (`prefix << 32 |
word`); per order, the distinct keys are sorted, and an n-gram's id is its rank. Each chunk of
the corpus is counted on its own (sorted distinct keys with counts; what each position needs
later is spilled to disk), the runs are merged as they come, and a second pass over the
chunks gives every corpus position the id of the n-gram ending there, which the next order
builds on. Memory is bounded by the number of distinct n-grams (the model's size) plus a
chunk, not by the corpus.

Estimation (Chen & Goodman 1998, section 3; Heafield et al. 2013, "Scalable Modified
Kneser-Ney Language Model Estimation"), with lmplz's conventions:
- Sentences are `<s> w1 .. wn </s>`; an n-gram may start at `<s>` but never before it.
- Adjusted counts: the raw count for the highest order and for n-grams starting with `<s>`;
  otherwise the number of distinct words seen to the left. `<s>` and `<unk>` as unigrams: 0.
- Discounts per order from the counts of adjusted counts t1..t4: Y = t1 / (t1 + 2 t2),
  D_k = k - (k + 1) Y t_{k+1} / t_k for k = 1, 2, 3+. When a t_k (k <= 3) is zero or a D_k
  falls outside [0, k], lmplz's fallback (D1, D2, D3+) = (0.5, 1, 1.5) is used for that order
  (lmplz's `--discount_fallback`, needed on tiny corpora).
- p(w | h) = (a(h w) - D(a(h w))) / sum_x a(h x) + gamma(h) p(w | h'), with
  gamma(h) = sum_k D_k N_k(h) / sum_x a(h x); below unigrams, the uniform 1 / (V - 1)
  (V counts `<unk>` but not `<s>`). p(<unk>) = gamma(empty) / (V - 1); p(<s>) = 1.
- The backoff of an n-gram is log10 gamma of it as a context; 0 if it is no context.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from operators.lm.spool import BOS, EOS, UNK, TokenSpool

FALLBACK_DISCOUNTS = (0.5, 1.0, 1.5)  # lmplz --discount_fallback defaults (D1, D2, D3+)
WORD_BITS = 32
WORD_MASK = np.uint64((1 << WORD_BITS) - 1)


class EstimationError(ValueError):
    """The corpus cannot make a model (e.g. it holds no words)."""


@dataclass
class OrderTable:
    """The distinct n-grams of one order, sorted by (prefix id, word)."""

    keys: np.ndarray  # uint64: prefix id << 32 | word
    counts: np.ndarray  # int64 raw counts
    suffix: np.ndarray  # int64 id of the (n-1)-gram without the first word (order >= 2)

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def prefix(self) -> np.ndarray:
        return (self.keys >> np.uint64(WORD_BITS)).astype(np.int64)

    @property
    def word(self) -> np.ndarray:
        return (self.keys & WORD_MASK).astype(np.int64)


@dataclass
class Discount:
    d: tuple[float, float, float, float]  # D(0)=0, D1, D2, D3+
    counts_of_counts: tuple[int, int, int, int]  # t1..t4
    fallback: bool = False


@dataclass
class Estimate:
    """The model: per order, n-gram ids (prefix, word), log10 probabilities and backoffs."""

    order: int
    vocab_size: int  # unigrams, with <unk>, <s>, </s>
    tables: list[OrderTable]
    log_prob: list[np.ndarray]
    log_backoff: list[np.ndarray]  # per order < highest
    discounts: list[Discount]
    tokens: int = 0
    sentences: int = 0
    words: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # unigram id -> spool word id

    def counts(self) -> list[int]:
        return [len(t) for t in self.tables]


# ---- counting -------------------------------------------------------------------------------


def _unigram_ids(spool: TokenSpool) -> tuple[np.ndarray, np.ndarray]:
    """Dense ids for the words that occur (specials first, in place): (word -> unigram id, words)."""
    seen = np.zeros(3, dtype=bool)
    for chunk in spool.chunks():
        top = int(chunk.max()) + 1
        if top > len(seen):
            seen = np.concatenate([seen, np.zeros(top - len(seen), dtype=bool)])
        seen[chunk] = True
    seen[[UNK, BOS, EOS]] = True
    words = np.flatnonzero(seen)
    remap = np.full(len(seen), -1, dtype=np.int64)
    remap[words] = np.arange(len(words))
    return remap, words


def _keys_at(prev_ids: np.ndarray, chunk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions j where an n-gram ends (the (n-1)-gram ending at j-1 exists and j is no
    sentence start) and its key."""
    valid = np.zeros(len(chunk), dtype=bool)
    valid[1:] = (prev_ids[:-1] >= 0) & (chunk[1:] != BOS)
    pos = np.flatnonzero(valid)
    keys = (prev_ids[pos - 1].astype(np.uint64) << np.uint64(WORD_BITS)) | chunk[pos].astype(np.uint64)
    return pos, keys


def _merge_runs(runs: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    if not runs:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    keys = np.concatenate([k for k, _ in runs])
    counts = np.concatenate([c for _, c in runs])
    uniq, inverse = np.unique(keys, return_inverse=True)
    # float64 sums are exact below 2**53
    summed = np.rint(np.bincount(inverse, weights=counts.astype(np.float64), minlength=len(uniq))).astype(np.int64)
    return uniq, summed


def count_ngrams(spool: TokenSpool, order: int, workdir: Path | None = None) -> tuple[list[OrderTable], np.ndarray]:
    """Distinct n-grams with raw counts for orders 1..order, streaming over the spool's chunks.

    Returns the tables and the unigram-id -> spool-word-id map."""
    remap, words = _unigram_ids(spool)
    own = workdir is None
    work = Path(tempfile.mkdtemp(prefix="lm-count-")) if own else Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    try:
        n_chunks = len(spool.files)
        unigram_counts = np.zeros(len(words), dtype=np.int64)
        for i, chunk in enumerate(spool.chunks()):
            ids = remap[chunk].astype(np.int32)
            unigram_counts += np.bincount(ids, minlength=len(words))
            np.save(work / f"ids-{i:05d}.npy", ids)
        tables = [OrderTable(np.arange(len(words), dtype=np.uint64), unigram_counts, np.full(len(words), -1, np.int64))]
        for n in range(2, order + 1):
            # pass 1: per chunk, the distinct n-grams (sorted keys), their counts, the suffix
            # of each, and each position's index among them
            merged = (np.zeros(0, np.uint64), np.zeros(0, np.int64))
            pending: list[tuple[np.ndarray, np.ndarray]] = []
            for i in range(n_chunks):
                chunk = np.load(work / f"ids-{i:05d}.npy")
                prev = np.load(work / f"prev-{i:05d}.npy") if n > 2 else chunk.astype(np.int64)
                pos, keys = _keys_at(prev, chunk)
                uniq, inverse, cnt = np.unique(keys, return_inverse=True, return_counts=True)
                local_suffix = np.empty(len(uniq), dtype=np.int64)
                # the suffix of the n-gram ending at j is the (n-1)-gram ending at j
                local_suffix[inverse] = prev[pos]
                for name, arr in (("uniq", uniq), ("suffix", local_suffix), ("inverse", inverse), ("pos", pos)):
                    np.save(work / f"{name}-{i:05d}.npy", arr)
                pending.append((uniq, cnt.astype(np.int64)))
                # merge when the pending runs outgrow the merged table: memory stays within a
                # few times the distinct n-grams plus a chunk, whatever the number of chunks
                if sum(len(k) for k, _ in pending) > max(len(merged[0]), spool.chunk_tokens):
                    merged = _merge_runs([merged, *pending])
                    pending = []
            keys, counts = _merge_runs([merged, *pending])
            del merged, pending
            # pass 2: chunk-local n-gram indices to global ids (sorted queries: fast)
            suffix = np.full(len(keys), -1, dtype=np.int64)
            for i in range(n_chunks):
                global_of_local = np.searchsorted(keys, np.load(work / f"uniq-{i:05d}.npy"))
                suffix[global_of_local] = np.load(work / f"suffix-{i:05d}.npy")
                length = len(np.load(work / f"ids-{i:05d}.npy", mmap_mode="r"))
                here = np.full(length, -1, dtype=np.int64)
                here[np.load(work / f"pos-{i:05d}.npy")] = global_of_local[np.load(work / f"inverse-{i:05d}.npy")]
                np.save(work / f"prev-{i:05d}.npy", here)
            tables.append(OrderTable(keys, counts, suffix))
            if not len(keys):
                break
        return tables, words
    finally:
        if own:
            shutil.rmtree(work, ignore_errors=True)
        else:
            for f in work.glob("*.npy"):
                f.unlink()


# ---- estimation -----------------------------------------------------------------------------


def compute_discount(adjusted: np.ndarray) -> Discount:
    """Chen & Goodman's equation (26) from the counts of adjusted counts 1..4, in float32 as lmplz."""
    t = np.bincount(np.minimum(adjusted, 5), minlength=6)[1:5].astype(np.int64)
    t1, t2, t3, t4 = (int(x) for x in t)
    if t1 == 0 or t2 == 0 or t3 == 0:
        return Discount((0.0, *FALLBACK_DISCOUNTS), (t1, t2, t3, t4), fallback=True)
    y = np.float32(t1) / np.float32(t1 + 2.0 * t2)
    d = [0.0]
    for k in (1, 2, 3):
        dk = float(np.float32(k) - np.float32(k + 1) * y * np.float32(t[k]) / np.float32(t[k - 1]))
        if dk < 0.0 or dk > k:
            return Discount((0.0, *FALLBACK_DISCOUNTS), (t1, t2, t3, t4), fallback=True)
        d.append(dk)
    return Discount((d[0], d[1], d[2], d[3]), (t1, t2, t3, t4))


def adjusted_counts(tables: list[OrderTable]) -> list[np.ndarray]:
    """Kneser-Ney adjusted counts per order (see the module docstring)."""
    order = len(tables)
    starts_bos = [np.arange(len(tables[0])) == BOS]
    for n in range(1, order):
        starts_bos.append(starts_bos[n - 1][tables[n].prefix])
    out: list[np.ndarray] = []
    for n in range(order):
        t = tables[n]
        if n == order - 1:
            a = t.counts.copy()
        else:
            left = np.bincount(tables[n + 1].suffix, minlength=len(t)).astype(np.int64)
            a = np.where(starts_bos[n], t.counts, left)
        if n == 0:
            a[UNK] = 0
            a[BOS] = 0
        out.append(a)
    return out


def _last_in_suffix_order(tables: list[OrderTable]) -> tuple[int, int]:
    """(order, id) of lmplz's last highest-order n-gram in suffix order (compare last words,
    then the words before; the n-grams that start at `<s>` below the highest order are
    highest-order n-grams padded with `<s>` on the left)."""
    top = len(tables)
    groups = [(top, np.arange(len(tables[-1])))]
    groups += [(n, np.flatnonzero(_starts_with_bos(tables, n))) for n in range(1, top)]
    groups = [(n, ids) for n, ids in groups if len(ids)]
    cursors = [ids.copy() for _, ids in groups]
    for k in range(top):
        words = []
        for (n, _ids), cur in zip(groups, cursors):
            level = n - k  # order of the n-gram whose last word is at distance k from the end
            if level >= 1:
                words.append(tables[level - 1].word[cur] if level > 1 else cur)
            else:
                words.append(np.full(len(cur), BOS, dtype=np.int64))
        best = max(int(w.max()) for w in words if len(w))
        keep = [w == best for w in words]
        groups = [(n, ids[m]) for (n, ids), m in zip(groups, keep)]
        cursors = [(tables[n - k - 1].prefix[cur[m]] if n - k > 1 else cur[m]) for (n, _), cur, m in
                   zip(groups, cursors, keep)]
        live = [i for i, (_, ids) in enumerate(groups) if len(ids)]
        groups = [groups[i] for i in live]
        cursors = [cursors[i] for i in live]
        if len(groups) == 1 and len(groups[0][1]) == 1:
            break
    n, ids = groups[0]
    return n, int(ids[0])


def _starts_with_bos(tables: list[OrderTable], n: int) -> np.ndarray:
    mask = np.arange(len(tables[0])) == BOS
    for k in range(1, n):
        mask = mask[tables[k].prefix]
    return mask


def stat_counts(tables: list[OrderTable], adjusted: list[np.ndarray]) -> list[np.ndarray]:
    """The counts lmplz's discount statistics see: the adjusted counts, except that the
    lower-order suffixes of the last highest-order n-gram in suffix order enter with their raw
    counts (lmplz's AdjustCounts flushes the n-grams still open at the end with their actual
    counts). Negligible on real corpora, visible on tiny ones; kept to match the oracle."""
    out = [a.copy() for a in adjusted]
    top = len(tables)
    if top == 1:
        return out
    n, g = _last_in_suffix_order(tables)
    for k in range(min(n, top - 1), 0, -1):
        # walk g down to its suffix of order k
        cur, level = g, n
        while level > k:
            cur = int(tables[level - 1].suffix[cur])
            level -= 1
        out[k - 1][cur] = tables[k - 1].counts[cur]
    return out


def estimate(spool: TokenSpool, order: int = 5, workdir: Path | None = None) -> Estimate:
    """Count the spool's sentences and estimate an interpolated modified Kneser-Ney model."""
    if order < 1:
        raise ValueError("order must be >= 1")
    if spool.tokens == 0:
        raise EstimationError("no words to train on: the text is empty after normalization and tokenization")
    tables, words = count_ngrams(spool, order, workdir)
    while len(tables) > 1 and len(tables[-1]) == 0:
        tables.pop()  # sentences too short for the asked order: the model stops where n-grams do
    order = len(tables)
    adjusted = adjusted_counts(tables)
    discounts = [compute_discount(a) for a in stat_counts(tables, adjusted)]
    vocab_size = len(tables[0])
    log_prob: list[np.ndarray] = []
    log_backoff: list[np.ndarray] = []

    # unigrams
    a = adjusted[0].astype(np.float64)
    d = np.asarray(discounts[0].d)[np.minimum(adjusted[0], 3)]  # D(0) = 0
    total = a.sum()
    gamma = d.sum() / total
    prob = (a - d) / total + gamma / (vocab_size - 1)
    prob[BOS] = 1.0
    probs = [prob]

    for n in range(1, order):
        t = tables[n]
        ctx = t.prefix
        a_n = adjusted[n]
        d_n = np.asarray(discounts[n].d)[np.minimum(a_n, 3)]
        n_ctx = len(tables[n - 1])
        denom = np.bincount(ctx, weights=a_n.astype(np.float64), minlength=n_ctx)
        mass = np.bincount(ctx, weights=d_n, minlength=n_ctx)
        is_ctx = denom > 0
        gamma_ctx = np.ones(n_ctx)
        gamma_ctx[is_ctx] = mass[is_ctx] / denom[is_ctx]
        p = (a_n - d_n) / denom[ctx] + gamma_ctx[ctx] * probs[n - 1][t.suffix]
        probs.append(p)
        backoff = np.zeros(n_ctx)
        backoff[is_ctx] = np.log10(gamma_ctx[is_ctx])
        log_backoff.append(backoff)

    for p in probs:  # in place: the probabilities are not needed afterwards
        np.log10(p, out=p)
        log_prob.append(np.minimum(p, 0.0, out=p))
    return Estimate(order, vocab_size, tables, log_prob, log_backoff, discounts,
                    tokens=spool.tokens, sentences=spool.sentences, words=words)
