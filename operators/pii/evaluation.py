"""Span-level precision, recall and F1 per entity type against gold spans.

A prediction matches a gold span of the same type when they overlap (`overlap`) or have the
same boundaries (`exact`); each gold span matches at most one prediction. Labels are mapped to
one vocabulary first: the presidio-research data's older ADDRESS/LOCATION labels are
STREET_ADDRESS/GPE, its DOMAIN_NAME is presidio's URL, presidio's LOCATION is GPE and CoNLL's
PER is PERSON.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

GOLD_LABELS = {"ADDRESS": "STREET_ADDRESS", "LOCATION": "GPE", "DOMAIN_NAME": "URL", "PER": "PERSON"}
PREDICTED_LABELS = {"LOCATION": "GPE"}

Span = tuple[int, int, str]


@dataclass(frozen=True)
class Score:
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def _matched(gold: list[Span], pred: list[Span], mode: str) -> int:
    used: set[int] = set()
    for p in sorted(pred):
        for i, g in enumerate(gold):
            if i in used:
                continue
            hit = (p[0], p[1]) == (g[0], g[1]) if mode == "exact" else (p[0] < g[1] and g[0] < p[1])
            if hit:
                used.add(i)
                break
    return len(used)


def score(gold: Iterable[Sequence[Span]], predicted: Iterable[Sequence[Span]],
          mode: Literal["overlap", "exact"] = "overlap") -> dict[str, Score]:
    """Per entity type (mapped labels) over paired documents."""
    tp: Counter = Counter()
    fp: Counter = Counter()
    fn: Counter = Counter()
    for g_doc, p_doc in zip(gold, predicted, strict=True):
        g_all = [(s, e, GOLD_LABELS.get(t, t)) for s, e, t in g_doc]
        p_all = [(s, e, PREDICTED_LABELS.get(t, t)) for s, e, t in p_doc]
        for label in {t for *_, t in g_all} | {t for *_, t in p_all}:
            g = [x for x in g_all if x[2] == label]
            p = [x for x in p_all if x[2] == label]
            m = _matched(g, p, mode)
            tp[label] += m
            fp[label] += len(p) - m
            fn[label] += len(g) - m
    return {k: Score(tp[k], fp[k], fn[k]) for k in sorted(set(tp) | set(fp) | set(fn))}
