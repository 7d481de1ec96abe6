"""The documents that perplexity cutoffs are computed on: never ones the model was trained on.

An n-gram model nearly memorizes its training text: on corpus_en news, training documents scored
p30 = 6.6 and p60 = 8.1 while unseen news of the same sources scored 20-200, so cutoffs computed
on training documents put 96% of new text in `tail`. Cutoffs therefore come from either

- a part of the reference held out from training (the default), chosen by a seeded hash of each
  document's text: the same documents whatever the order or batching, and exact duplicates of a
  held-out document are held out with it (a duplicate left in training would be memorized); or
- a sample of the corpus to filter (CCNet's choice), from which documents whose exact text is also
  in the training text are dropped.
"""

from __future__ import annotations

import heapq
import math
import warnings
from collections.abc import Iterable, Iterator

import xxhash

# Below this many documents a percentile is uncertain by more than about +-3 points of share.
MIN_CUTOFF_DOCUMENTS = 1000


class SmallCutoffSampleWarning(UserWarning):
    """The perplexity cutoffs come from few documents; bucket shares on new text are uncertain."""


def text_hash(text: str, seed: int) -> int:
    return xxhash.xxh64_intdigest(text.encode("utf-8", "surrogatepass"), seed)


class HeldOut:
    """Splits a stream of reference documents into training documents and a held-out part.

    The held-out part is the `fraction` of documents (at most `limit`) with the smallest seeded
    text hash. `split(texts)` yields the training documents; up to `limit` candidates wait in
    memory until the stream ends, when the number of documents (so the held-out size) is known
    and the candidates not held out are yielded for training after all others."""

    def __init__(self, fraction: float, limit: int, seed: int):
        if not 0 < fraction < 1:
            raise ValueError(f"held-out fraction must be between 0 and 1, got {fraction}")
        self.fraction = fraction
        self.limit = limit
        self.seed = seed
        self.documents = 0  # all reference documents seen
        self.texts: list[str] = []  # the held-out documents, once the stream has ended

    def size(self, documents: int) -> int:
        """Held-out documents out of `documents`: the fraction, at least one of two or more."""
        if documents < 2:
            return 0
        return min(self.limit, max(1, math.floor(self.fraction * documents)))

    def split(self, texts: Iterable[str | None]) -> Iterator[str]:
        heap: list[tuple[int, int, str]] = []  # max-heap of candidates by (-hash, -arrival)
        for text in texts:
            text = text or ""
            key = (-text_hash(text, self.seed), -self.documents, text)
            self.documents += 1
            if len(heap) < self.limit:
                heapq.heappush(heap, key)
            elif key > heap[0]:  # a smaller hash than the largest candidate's
                yield heapq.heapreplace(heap, key)[2]
            else:
                yield text
        candidates = sorted(heap, reverse=True)  # smallest hash first
        keep = self.size(self.documents)
        while 0 < keep < len(candidates) and candidates[keep][0] == candidates[keep - 1][0]:
            keep += 1  # an exact duplicate of the last held-out document is held out too
        self.texts = [t for _, _, t in candidates[:keep]]
        for _, _, text in sorted(candidates[keep:], key=lambda c: -c[1]):  # in arrival order
            yield text


class SeenFilter:
    """Marks which documents of a given cutoff sample also occur (same text) in the training
    text; `unseen()` is the sample without them (all of it when `drop_seen` is false)."""

    def __init__(self, sample: Iterable[str | None], seed: int, drop_seen: bool = True):
        self.sample = [t or "" for t in sample]
        self.seed = seed
        self.drop_seen = drop_seen
        self._hashes = {text_hash(t, seed) for t in self.sample}
        self._seen: set[int] = set()

    def watch(self, texts: Iterable[str | None]) -> Iterator[str]:
        for text in texts:
            text = text or ""
            h = text_hash(text, self.seed)
            if h in self._hashes:
                self._seen.add(h)
            yield text

    def unseen(self) -> list[str]:
        if not self.drop_seen:
            return list(self.sample)
        return [t for t in self.sample if text_hash(t, self.seed) not in self._seen]


def small_sample_warning(documents: int, source: str) -> str | None:
    """A warning (also stored in cutoffs.json) when the cutoffs rest on few documents."""
    if documents >= MIN_CUTOFF_DOCUMENTS:
        return None
    if documents == 0:
        message = f"no perplexity cutoffs: no scorable {source}; bucket rules cannot be used with this model"
    else:
        # 95% interval of the share of new documents below an estimated 30th percentile
        spread = 100 * 1.96 * math.sqrt(0.3 * 0.7 / documents)
        message = (f"perplexity cutoffs from only {documents} {source}: the head/middle/tail shares of new "
                   f"text may be off by about {spread:.0f} points; give more reference text or a larger "
                   f"cutoff sample (at least {MIN_CUTOFF_DOCUMENTS})")
    warnings.warn(message, SmallCutoffSampleWarning, stacklevel=3)
    return message


def in_sample_warning() -> str:
    """The note stored with cutoffs asked for on the training documents themselves (on purpose,
    so not raised as a warning): right for bucketing that text, not for any other."""
    return ("perplexity cutoffs computed on the documents the model was trained on: they bucket that text "
            "30/30/40, but new text scores far higher (most of it lands in tail); do not reuse them elsewhere")
