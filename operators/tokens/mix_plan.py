"""How many copies of each document a mixture takes: the arithmetic of the `mix` step.

Per source s with A_s tokens available and a target T_s, the mixture takes every document
floor(T_s / A_s) times, plus once more the documents whose seeded id hash is lowest, until their
tokens come closest to the remainder (a prefix in hash order: uniform, and the same whatever the
sharding). Epochs T_s / A_s above `max_epochs` are refused: repeating data beyond about 4 epochs
adds little (Muennighoff et al. 2023, "Scaling Data-Constrained Language Models", NeurIPS).

The hash prefix is found in two passes with bounded memory: a histogram of tokens per top-16-bit
hash bucket finds the bucket where the remainder ends; only that bucket's documents are then
read to place the boundary exactly (within one document).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

BUCKET_BITS = 16
BUCKET_SHIFT = 64 - BUCKET_BITS
MUENNIGHOFF_EPOCHS = 4.0


class MixError(ValueError):
    """The mixture cannot be made as asked."""


@dataclass
class SourcePlan:
    documents: int  # available
    tokens: int  # available
    target: int
    full_copies: int = 0
    bucket: int = -1  # hash bucket where the extra copy's prefix ends (-1: no extra copies)
    below_documents: int = 0  # documents and tokens of the buckets before it
    below_tokens: int = 0
    threshold: int = -1  # an extra copy for ids whose hash <= threshold (-1: none)
    documents_after: int = 0
    tokens_after: int = 0

    @property
    def epochs(self) -> float:
        return self.tokens_after / self.tokens if self.tokens else 0.0

    def to_json(self) -> dict:
        return {**asdict(self), "epochs": self.epochs}


def targets(available: dict[str, int], weights: dict[str, float] | None, wanted: dict[str, int] | None,
            total: int | None, column: str) -> dict[str, int]:
    """Target tokens per present source value (0 for values the mixture leaves out)."""
    named = weights if weights is not None else wanted
    assert named is not None
    absent = sorted(k for k in named if k not in available)
    if absent:
        raise MixError(f"mix names {', '.join(map(repr, absent))} but column {column!r} has no such value "
                       f"(present: {', '.join(map(repr, sorted(available)))})")
    empty = sorted(k for k, v in named.items() if v > 0 and available[k] == 0)
    if empty:
        raise MixError(f"mix asks for {', '.join(map(repr, empty))} but they have no tokens in the input")
    if wanted is not None:
        return {k: int(wanted.get(k, 0)) for k in available}
    assert weights is not None
    weight_sum = sum(weights.values())
    share = {k: weights.get(k, 0.0) / weight_sum for k in available}
    if total is None:  # the largest mixture that repeats nothing
        total = min(available[k] / s for k, s in share.items() if s > 0)
    return {k: int(round(s * total)) for k, s in share.items()}


def full_copies(plan: SourcePlan, name: str, max_epochs: float) -> None:
    """Whole repeats, and the remainder's bucket is chosen later from the histogram."""
    if plan.target <= 0:
        return
    epochs = plan.target / plan.tokens
    if epochs > max_epochs + 1e-12:
        raise MixError(f"mix: source {name!r} would need {epochs:.2f} epochs ({plan.target:,} tokens asked, "
                       f"{plan.tokens:,} available), above max_epochs {max_epochs:g} (repeats beyond ~4 epochs add "
                       f"little: Muennighoff et al. 2023); lower its weight, target or total_tokens, or raise max_epochs")
    plan.full_copies = math.floor(epochs + 1e-12)
    if plan.full_copies * plan.tokens > plan.target:
        plan.full_copies -= 1


def choose_bucket(plan: SourcePlan, bucket_docs: np.ndarray, bucket_tokens: np.ndarray) -> None:
    """Find the bucket where the remainder ends (bucket arrays indexed by bucket number)."""
    remainder = plan.target - plan.full_copies * plan.tokens
    if remainder <= 0:
        _finish(plan, 0, 0)
        return
    cum = np.cumsum(bucket_tokens)
    b = int(np.searchsorted(cum, remainder, side="left"))
    b = min(b, len(cum) - 1)
    plan.bucket = b
    plan.below_tokens = int(cum[b] - bucket_tokens[b])
    plan.below_documents = int(np.sum(bucket_docs[:b]))


def place_boundary(plan: SourcePlan, hashes: np.ndarray, tokens: np.ndarray, max_epochs: float) -> None:
    """Within the boundary bucket, take the hash-order prefix closest to the remainder."""
    need = plan.target - plan.full_copies * plan.tokens - plan.below_tokens
    order = np.argsort(hashes, kind="stable")
    hashes, tokens = hashes[order], tokens[order]
    unique, starts = np.unique(hashes, return_index=True)  # equal ids are taken or left together
    group_tokens = np.add.reduceat(tokens, starts) if len(starts) else np.zeros(0, np.int64)
    group_docs = np.diff(np.append(starts, len(hashes)))
    cum = np.concatenate([[0], np.cumsum(group_tokens)])
    k = int(np.argmin(np.abs(cum - need)))  # take the first k hash groups
    cap = max_epochs * plan.tokens - plan.full_copies * plan.tokens - plan.below_tokens
    while k > 0 and cum[k] > cap:
        k -= 1
    plan.threshold = int(unique[k - 1]) if k > 0 else (plan.bucket << BUCKET_SHIFT) - 1
    _finish(plan, plan.below_documents + int(np.sum(group_docs[:k])), plan.below_tokens + int(cum[k]))


def _finish(plan: SourcePlan, extra_documents: int, extra_tokens: int) -> None:
    plan.documents_after = plan.full_copies * plan.documents + extra_documents
    plan.tokens_after = plan.full_copies * plan.tokens + extra_tokens
