"""`pipeline analyze`: every statistic of a recipe's filters on a seeded sample, nothing removed.

The sample is the `n` documents with the smallest seeded hash of their corpus position
(`_doc_key`): uniform, the same whatever the batch size, and held in memory bounded by `n`.
Each step then runs over the whole sample: mappers rewrite, filters compute their statistics and
decide, but no row is dropped, so each filter's effect can be read both alone (on every sampled
document) and after the earlier steps (on those the earlier steps would keep). For each
threshold of each filter (`Filter.stat_thresholds()`), candidate values around the configured one
and at quantiles of the data are evaluated the same two ways. Global steps (deduplication) need
the whole corpus and are not evaluated on a sample.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from operators.base import DOC_KEY, Filter, GlobalOperator, Mapper, Operator
from pipeline.io.readers import Quarantined, list_shards, read_shard
from pipeline.recipe import Recipe
from pipeline.report.columns import as_float, is_statistic

MIN_SIDE_QUANTILES = (0.01, 0.05, 0.10, 0.25)
MAX_SIDE_QUANTILES = (0.75, 0.90, 0.95, 0.99)
AROUND_CONFIGURED = (0.5, 0.75, 1.0, 1.25, 1.5)


# ---- sampling ----------------------------------------------------------------------------------


def _mix(keys: np.ndarray, seed: int) -> np.ndarray:
    """SplitMix64 of (key + seed-derived offset): a seeded, well-spread 64-bit hash per document."""
    with np.errstate(over="ignore"):
        z = keys.astype(np.uint64) + np.uint64((seed * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) % (1 << 64))
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


@dataclass
class Sample:
    table: pa.Table  # in corpus order
    corpus_documents: int  # valid documents read
    quarantined: Counter
    seconds: float


def sample_corpus(recipe: Recipe, n: int, seed: int) -> Sample:
    """The `n` documents with the smallest seeded hash of `_doc_key` (all if fewer)."""
    if n < 1:
        raise ValueError(f"sample size must be at least 1, got {n}")
    started = time.perf_counter()
    quarantined: Counter = Counter()

    def quarantine(rec: Quarantined) -> None:
        quarantined[rec.reason.split(" ")[0]] += 1

    tables: list[pa.Table] = []
    hashes: list[np.ndarray] = []
    held = 0
    cutoff: np.uint64 | None = None
    total = 0

    def compact(limit: int) -> None:
        nonlocal held, cutoff, tables, hashes
        t = pa.concat_tables(tables, promote_options="permissive")
        h = np.concatenate(hashes)
        if h.size > limit:
            keep = np.argpartition(h, limit - 1)[:limit]
            t, h = t.take(pa.array(keep)), h[keep]
            cutoff = h.max()
        tables, hashes, held = [t], [h], h.size

    for shard in list_shards(recipe.input):
        for batch in read_shard(shard, recipe.input, quarantine if recipe.output.quarantine else None):
            total += batch.num_rows
            h = _mix(batch.column(DOC_KEY).to_numpy(), seed)
            if cutoff is not None:
                sel = h < cutoff
                batch, h = batch.filter(pa.array(sel)), h[sel]
            if h.size:
                tables.append(batch)
                hashes.append(h)
                held += h.size
            if held > 2 * n:
                compact(n)
    if not tables:
        raise ValueError(f"{recipe.input.path}: no documents to sample")
    compact(n)
    table = tables[0]
    order = np.argsort(table.column(DOC_KEY).to_numpy(), kind="stable")
    return Sample(table.take(pa.array(order)), total, quarantined, time.perf_counter() - started)


# ---- running the steps without removing ------------------------------------------------------


@dataclass
class StepOutcome:
    index: int
    name: str
    kind: str
    evaluated: bool
    seconds: float = 0.0
    removed: np.ndarray | None = None  # per sampled row: would this step remove it
    reasons: Counter = field(default_factory=Counter)  # alone
    reasons_after: Counter = field(default_factory=Counter)
    alive_before: np.ndarray | None = None
    new_columns: list[str] = field(default_factory=list)
    thresholds: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    metrics: Counter = field(default_factory=Counter)
    note: str = ""

    @property
    def removed_alone(self) -> int:
        return int(self.removed.sum()) if self.removed is not None else 0

    @property
    def removed_after(self) -> int:
        if self.removed is None or self.alive_before is None:
            return 0
        return int((self.removed & self.alive_before).sum())

    @property
    def documents_in(self) -> int:
        return int(self.alive_before.sum()) if self.alive_before is not None else 0


@dataclass
class Candidate:
    value: float
    origin: str  # "configured", "× 1.25", "p5" ...
    removed_alone: int
    removed_after: int


@dataclass
class ThresholdStudy:
    step: int
    column: str
    side: str  # "min" or "max"
    configured: float
    candidates: list[Candidate]


@dataclass
class Analysis:
    recipe: Recipe
    source: str
    seed: int
    sample: Sample
    table: pa.Table  # the sample with every statistic column
    steps: list[StepOutcome]
    alive: np.ndarray  # kept by every evaluated step
    studies: list[ThresholdStudy]
    steps_seconds: float

    @property
    def n(self) -> int:
        return self.table.num_rows


def _apply(op: Operator, table: pa.Table) -> tuple[pa.Table, pa.Array | None]:
    if isinstance(op, Filter):
        with_stats = op.compute_stats(table)
        return with_stats, op.decide(with_stats)
    if isinstance(op, Mapper):
        return op.process(table), None
    result = op.apply(table)
    return result.table, result.reasons


def run_steps(steps: list[Operator], sample: pa.Table, batch_size: int) -> tuple[pa.Table, list[StepOutcome]]:
    """Every step over every sampled row (batch by batch, as a run would), removing nothing."""
    outcomes = [StepOutcome(k, op.name, op.kind, not isinstance(op, GlobalOperator)) for k, op in enumerate(steps)]
    for out, op in zip(outcomes, steps):
        if not out.evaluated:
            out.note = "global step: needs the whole corpus, not evaluated on a sample"
        else:
            op.ensure_setup()
    reasons: list[list[np.ndarray]] = [[] for _ in steps]
    done: list[pa.Table] = []
    for start in range(0, sample.num_rows, batch_size):
        table = sample.slice(start, batch_size)
        for k, op in enumerate(steps):
            out = outcomes[k]
            if not out.evaluated:
                continue
            before = table.column_names
            t0 = time.perf_counter()
            table, why = _apply(op, table)
            out.seconds += time.perf_counter() - t0
            if start == 0:
                out.new_columns = [c for c in table.column_names if c not in before]
            if why is not None:
                reasons[k].append(np.asarray(why.to_numpy(zero_copy_only=False), dtype=object))
        done.append(table)
    table = pa.concat_tables(done, promote_options="permissive") if done else sample
    alive = np.ones(table.num_rows, dtype=bool)
    for k, op in enumerate(steps):
        out = outcomes[k]
        out.metrics.update(op.pop_metrics())
        out.alive_before = alive.copy()
        if isinstance(op, Filter):
            out.thresholds = op.stat_thresholds()
        if not reasons[k]:
            continue
        why = np.concatenate(reasons[k])
        removed = np.array([r is not None for r in why], dtype=bool)
        out.removed = removed
        out.reasons = Counter(why[removed].tolist())
        out.reasons_after = Counter(why[removed & alive].tolist())
        alive &= ~removed
    return table, outcomes


# ---- threshold candidates ----------------------------------------------------------------------


def candidate_values(values: np.ndarray, side: str, configured: float, integer: bool) -> list[tuple[float, str]]:
    finite = values[np.isfinite(values)]
    found: dict[float, str] = {}
    for f in AROUND_CONFIGURED:
        v = configured * f
        found.setdefault(round(v) if integer else float(v), "configured" if f == 1.0 else f"× {f:g}")
    if finite.size:
        qs = MIN_SIDE_QUANTILES if side == "min" else MAX_SIDE_QUANTILES
        for q, v in zip(qs, np.quantile(finite, qs)):
            found.setdefault(round(float(v)) if integer else float(v), f"p{round(q * 100)}")
    found[round(configured) if integer else float(configured)] = "configured"
    return sorted(found.items())


def study_thresholds(table: pa.Table, outcomes: list[StepOutcome]) -> list[ThresholdStudy]:
    studies = []
    for out in outcomes:
        for column, (lo, hi) in out.thresholds.items():
            if column not in table.column_names:
                out.note += f" threshold column {column!r} was not produced;"
                continue
            col = table.column(column)
            values = as_float(col)
            integer = pa.types.is_integer(col.type)
            alive = out.alive_before if out.alive_before is not None else np.ones(values.size, bool)
            for side, configured in (("min", lo), ("max", hi)):
                if configured is None:
                    continue
                cands = []
                for value, origin in candidate_values(values, side, float(configured), integer):
                    with np.errstate(invalid="ignore"):
                        gone = values < value if side == "min" else values > value
                    cands.append(Candidate(value, origin, int(gone.sum()), int((gone & alive).sum())))
                studies.append(ThresholdStudy(out.index, column, side, float(configured), cands))
    return studies


def analyze(recipe: Recipe, n: int, seed: int = 0, source: str = "") -> Analysis:
    sample = sample_corpus(recipe, n, seed)
    steps = recipe.build_steps()
    t0 = time.perf_counter()
    table, outcomes = run_steps(steps, sample.table, recipe.input.batch_size)
    seconds = time.perf_counter() - t0
    alive = np.ones(table.num_rows, dtype=bool)
    for out in outcomes:
        if out.removed is not None:
            alive &= ~out.removed
    return Analysis(recipe, source, seed, sample, table, outcomes, alive, study_thresholds(table, outcomes), seconds)


def statistic_columns(analysis: Analysis) -> list[tuple[int, str]]:
    """(step, column) of every numeric column a step added, in step order."""
    out = []
    for step in analysis.steps:
        for c in step.new_columns:
            if is_statistic(c, analysis.table.schema.field(c).type, set()):
                out.append((step.index, c))
    return out


def write_path_default(recipe_path: str | Path) -> Path:
    return Path(f"analysis-{Path(recipe_path).stem}.html")
