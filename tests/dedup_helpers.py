"""Near-duplicate ground truth for the dedup tests and benchmark: copies of real documents with
controlled edits, and the exact Jaccard similarity of their shingle sets."""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from operators.dedup.hashing import word_windows

EDITS = ("substitute", "insert", "delete", "boilerplate", "reorder")
BOILERPLATE = ("Subscribe to our newsletter for the latest updates. All rights reserved. "
               "Share this article on social media and follow us for more stories like this one.")


def shingle_sets(texts: list[str], n: int = 5) -> list[set[int]]:
    """Shingle hash sets of texts, normalized exactly as minhash_dedup normalizes them."""
    h, off = word_windows(pa.array(texts, pa.string()), n)
    return [set(h[off[i]:off[i + 1]].tolist()) for i in range(len(texts))]


def jaccard(a: set[int], b: set[int]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def edit(text: str, kind: str, strength: float, rng: random.Random, vocabulary: list[str]) -> str:
    """One controlled edit of a document; `strength` in [0, 1] scales how much changes."""
    words = text.split()
    n = len(words)
    if kind == "substitute":
        for i in rng.sample(range(n), max(1, int(strength * n / 4))):
            words[i] = rng.choice(vocabulary)
    elif kind == "insert":
        for _ in range(max(1, int(strength * n / 4))):
            words.insert(rng.randrange(len(words) + 1), rng.choice(vocabulary))
    elif kind == "delete":
        drop = set(rng.sample(range(n), min(n - 1, max(1, int(strength * n / 4)))))
        words = [w for i, w in enumerate(words) if i not in drop]
    elif kind == "boilerplate":
        extra = BOILERPLATE.split() * max(1, int(strength * n / 30))
        words = words + extra if rng.random() < 0.5 else extra + words
    elif kind == "reorder":
        # cut into blocks (paragraph stand-ins) and shuffle some of them
        blocks = max(2, int(2 + strength * 10))
        size = max(1, n // blocks)
        parts = [words[i:i + size] for i in range(0, n, size)]
        rng.shuffle(parts)
        words = [w for p in parts for w in p]
    else:
        raise ValueError(kind)
    return " ".join(words)


@dataclass
class Truth:
    texts: list[str]  # originals first, then copies
    pairs: list[tuple[int, int, float, str]]  # (original index, copy index, exact Jaccard, edit kind)


def near_duplicates(originals: list[str], copies: int, seed: int = 0, min_words: int = 40, n: int = 5) -> Truth:
    """`copies` edited copies of documents drawn from `originals` (those with >= min_words
    words), with edit kinds cycling and strengths spread over [0, 1] so similarities cover
    roughly 0.2..1."""
    rng = random.Random(seed)
    eligible = [i for i, t in enumerate(originals) if len(t.split()) >= min_words]
    vocabulary = sorted({w for i in eligible[:200] for w in originals[i].split()})
    texts = list(originals)
    made = []
    for c in range(copies):
        src = rng.choice(eligible)
        kind = EDITS[c % len(EDITS)]
        texts.append(edit(originals[src], kind, rng.random(), rng, vocabulary))
        made.append((src, len(texts) - 1, kind))
    sets = shingle_sets([texts[s] for s, _, _ in made] + [texts[c] for _, c, _ in made], n)
    k = len(made)
    pairs = [(s, c, jaccard(sets[i], sets[k + i]), kind) for i, (s, c, kind) in enumerate(made)]
    return Truth(texts, pairs)


def precision_recall(truth: Truth, clusters: np.ndarray, thresholds: list[float], n: int = 5) -> list[dict]:
    """Pair-level precision and recall of a clustering against exact Jaccard.

    Recall at t: of the planted pairs with Jaccard >= t, the share the clustering put together.
    Precision at t: of all pairs the clustering put together (planted or not), the share with
    Jaccard >= t. `clusters[i]` is document i's cluster id."""
    sets = shingle_sets(truth.texts, n)
    together = []
    order = np.argsort(clusters, kind="stable")
    c = clusters[order]
    bounds = np.flatnonzero(np.r_[True, c[1:] != c[:-1], True])
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        members = order[lo:hi]
        for i in range(len(members)):
            for j in range(i + 1, len(members)):
                together.append(jaccard(sets[members[i]], sets[members[j]]))
    together_arr = np.array(together)
    planted = np.array([j for _, _, j, _ in truth.pairs])
    found = np.array([clusters[s] == clusters[cp] for s, cp, _, _ in truth.pairs])
    rows = []
    for t in thresholds:
        relevant = planted >= t
        rows.append({
            "threshold": t,
            "planted_pairs": int(relevant.sum()),
            "recall": float(found[relevant].mean()) if relevant.any() else float("nan"),
            "pairs_together": len(together_arr),
            "precision": float((together_arr >= t).mean()) if len(together_arr) else float("nan"),
        })
    return rows
