"""The operator API: Mapper, Filter and GlobalOperator.

Operators are pydantic models: their fields are their parameters (validated, documented, listed
by `pipeline ops`), construction stores them and does no work. Heavy state (models, engines) is
built in `setup()`, which the executor calls once per process before the first batch.

Batches are `pyarrow.Table`s with the columns of `operators.columns` (`text`, `id`, `_doc_key`),
whose names and helpers this module re-exports.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, PrivateAttr, model_validator

from operators.columns import DOC_KEY as DOC_KEY
from operators.columns import ID as ID
from operators.columns import SHARD_BITS as SHARD_BITS
from operators.columns import TEXT as TEXT
from operators.columns import add_columns as add_columns
from operators.columns import as_table as as_table
from operators.columns import bool_values as bool_values
from operators.columns import int64_values as int64_values
from operators.columns import ratio as ratio
from operators.columns import texts as texts
from operators.columns import with_column as with_column
from operators.stages import STAGE_KINDS as STAGE_KINDS
from operators.stages import Resources as Resources
from operators.stages import ShardInput as ShardInput
from operators.stages import Stage as Stage
from operators.stages import StageContext as StageContext
from operators.stages import atomic_write_table as atomic_write_table
from storage import files
from storage.location import Location

ARTIFACT_PREFIX = "artifact:"


@dataclass
class StepResult:
    """What one operator made of one batch: the rewritten table and, per row, why it was
    removed (`None` keeps the row)."""

    table: pa.Table
    reasons: pa.Array | None = None

    def split(self) -> tuple[pa.Table, pa.Table, pa.Array | None]:
        """Return (kept rows, removed rows, reasons of the removed rows)."""
        if self.reasons is None:
            return self.table, self.table.slice(0, 0), None
        removed_mask = self.reasons.is_valid()
        kept = self.table.filter(pa.compute.invert(removed_mask))
        removed = self.table.filter(removed_mask)
        return kept, removed, self.reasons.filter(removed_mask)


class Operator(BaseModel):
    """Base of every operator. Subclasses set `name` and implement `apply`."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, frozen=False)

    name: ClassVar[str] = ""
    kind: ClassVar[str] = "operator"
    resources: ClassVar[Resources] = Resources()
    # every removal reason (`family:rule`) it can give, listed by `pipeline ops NAME`; None: not
    # declared (every Filter declares them; a RuleFilter's come from its rules)
    reasons: ClassVar[tuple[str, ...] | None] = None

    _ready: bool = PrivateAttr(default=False)
    _metrics: Counter = PrivateAttr(default_factory=Counter)
    # the run's artifacts folder (<output>/artifacts, local or on an object store), set by the
    # executor before setup(), so a step can load a model that an earlier training step wrote
    _run_artifacts: Location | None = PrivateAttr(default=None)

    # ---- lifecycle -------------------------------------------------------------------------
    def setup(self) -> None:
        """Load models or build engines. Called once per process, before the first batch."""

    @classmethod
    def preload(cls) -> None:
        """Import the slow libraries `setup` will import (no model, no parameter): a process that
        forks the workers calls it once, so that each worker does not import them again."""

    def bind_run(self, artifacts: Path | Location) -> None:
        self._run_artifacts = artifacts if isinstance(artifacts, Location) else Location(artifacts)

    def resolve_path(self, ref: str) -> Path:
        """A model path, a URL (`s3://...`, any fsspec store; credentials from the usual environment),
        or `artifact:<name>`: what a training step of this run wrote to <output>/artifacts/<name>
        (copied once per node when the artifacts are on an object store)."""
        if files.is_url(ref):  # native libraries open files by name: one local copy per node
            from storage.cache import local_copy

            return local_copy(ref)
        if not ref.startswith(ARTIFACT_PREFIX):
            return Path(ref).expanduser()
        if self._run_artifacts is None:
            raise FileNotFoundError(f"{self.name}: {ref!r} names a model trained earlier in a recipe, but this "
                                    "operator runs outside a recipe run; give the model's path instead")
        return (self._run_artifacts / ref[len(ARTIFACT_PREFIX):].strip("/")).local_copy()

    def ensure_setup(self) -> None:
        if not self._ready:
            self.setup()
            self._ready = True

    # ---- counters --------------------------------------------------------------------------
    def add_metric(self, key: str, value: float = 1) -> None:
        """Count something (tokens, entities found, lines cut...); summed into stats.json."""
        self._metrics[key] += value

    def pop_metrics(self) -> dict[str, float]:
        out = dict(self._metrics)
        self._metrics.clear()
        return out

    # ---- the executor's protocol -----------------------------------------------------------
    def apply(self, table: pa.Table) -> StepResult:  # pragma: no cover - abstract
        raise NotImplementedError

    # ---- the Python API --------------------------------------------------------------------
    def __call__(self, data: pa.Table | Sequence[dict[str, Any]]) -> pa.Table:
        """Run on a table (or a list of dicts) and return the kept rows."""
        kept, _removed, _reasons = self.run(data)
        return kept

    def run(self, data: pa.Table | Sequence[dict[str, Any]]) -> tuple[pa.Table, pa.Table, pa.Array | None]:
        """Run on a table and return (kept, removed, reasons of removed)."""
        self.ensure_setup()
        return self.apply(as_table(data)).split()

    def params(self) -> dict[str, Any]:
        return self.model_dump()

    @classmethod
    def declared_reasons(cls) -> list[str] | None:
        """Every removal reason this operator can give, whatever its parameters (None: not declared)."""
        return None if cls.reasons is None else list(cls.reasons)

    # an operator that removes sensitive values (PII) from text; the runner passes documents that
    # earlier steps removed (and quarantined records) through its `redact` before writing them
    redacts_sinks: ClassVar[bool] = False

    def redact(self, table: pa.Table) -> pa.Table:
        """The text column with sensitive values replaced (for `redacts_sinks` operators)."""
        return table

    def model_files(self) -> dict[str, str]:
        """Model files this operator loads ({label: path}); the report records their hashes."""
        return {}


class Mapper(Operator):
    """Rewrites text or adds columns; keeps every row."""

    kind: ClassVar[str] = "mapper"
    reasons: ClassVar[tuple[str, ...] | None] = ()  # keeps every row

    def process(self, table: pa.Table) -> pa.Table:  # pragma: no cover - abstract
        raise NotImplementedError

    def apply(self, table: pa.Table) -> StepResult:
        return StepResult(self.process(table))


class Filter(Operator):
    """Computes statistics as columns (`compute_stats`), then decides per row (`decide`).

    The two are separate so that `pipeline analyze` can compute statistics without filtering.
    `decide` returns a string array: null keeps the row, a string is the removal reason, named
    `family:rule` (e.g. `gopher_quality:too_few_words`); `reasons` lists every one it can give.
    """

    kind: ClassVar[str] = "filter"

    def compute_stats(self, table: pa.Table) -> pa.Table:  # pragma: no cover - abstract
        raise NotImplementedError

    def decide(self, table: pa.Table) -> pa.Array:  # pragma: no cover - abstract
        raise NotImplementedError

    def apply(self, table: pa.Table) -> StepResult:
        with_stats = self.compute_stats(table)
        return StepResult(with_stats, self.decide(with_stats))

    def stat_thresholds(self) -> dict[str, tuple[float | None, float | None]]:
        """Statistic column -> (min kept, max kept) as configured; the report draws these lines
        on each column's histogram and `pipeline analyze` evaluates candidates around them."""
        return {}


Op = Literal["<", "<=", ">", ">=", "true"]  # "true": remove where a boolean column is true
Rule = tuple[str, Op, Any, str]  # (column, op, threshold or None = off, rule name)
_COMPARE = {"<": pc.less, "<=": pc.less_equal, ">": pc.greater, ">=": pc.greater_equal}


@dataclass(frozen=True)
class Range:
    """A statistic kept within [min, max], both bounds parameters of the filter (None: no bound).
    Each direction has its own rule name, so a reason says which bound removed the document."""

    column: str
    min_param: str
    max_param: str
    too_low: str  # rule name below the minimum, e.g. too_few_words
    too_high: str  # rule name above the maximum, e.g. too_many_words


class RuleFilter(Filter):
    """A filter whose decisions are threshold rules on its statistic columns.

    `rules()` lists (column, op, threshold, rule name); a row is removed by the first rule whose
    `column op threshold` holds, with reason `family:rule`. A rule with threshold None is off.
    `ranges` declares min/max parameter pairs (checked min <= max); `rules()` starts with their
    rules, and a subclass with other rules returns `self.range_rules() + [...]`.
    """

    family: ClassVar[str] = ""
    ranges: ClassVar[tuple[Range, ...]] = ()

    @model_validator(mode="after")
    def _ranges_ordered(self) -> RuleFilter:
        for r in self.ranges:
            lo, hi = getattr(self, r.min_param), getattr(self, r.max_param)
            if lo is not None and hi is not None and lo > hi:
                raise ValueError(f"{r.min_param} must be <= {r.max_param}")
        return self

    def range_rules(self) -> list[Rule]:
        rules: list[Rule] = []
        for r in self.ranges:
            rules.append((r.column, "<", getattr(self, r.min_param), r.too_low))
            rules.append((r.column, ">", getattr(self, r.max_param), r.too_high))
        return rules

    def rules(self) -> list[Rule]:
        return self.range_rules()

    @classmethod
    def declared_reasons(cls) -> list[str]:
        """The reasons of every rule, on or off (rules() lists each whatever its threshold)."""
        rules = cls.model_construct().rules()  # parameter defaults, no validation: only the names matter
        return list(dict.fromkeys(f"{cls.family}:{rule}" for *_, rule in rules))

    def decide(self, table: pa.Table) -> pa.Array:
        masks = []
        for column, op, threshold, rule in self.rules():
            if threshold is None:
                continue
            values = table.column(column)
            mask = values if op == "true" else _COMPARE[op](values, threshold)
            mask = pc.fill_null(mask, False)
            masks.append((mask, f"{self.family}:{rule}"))
        return reasons_from_rules(table.num_rows, masks)

    def stat_thresholds(self) -> dict[str, tuple[float | None, float | None]]:
        out: dict[str, tuple[float | None, float | None]] = {}
        for column, op, threshold, _rule in self.rules():
            if threshold is None or op == "true":
                continue
            lo, hi = out.get(column, (None, None))
            if op in ("<", "<="):
                lo = threshold
            else:
                hi = threshold
            out[column] = (lo, hi)
        return out


def reasons_from_rules(n: int, rules: Iterable[tuple[np.ndarray | pa.Array, str]]) -> pa.Array:
    """Reason array from (remove-mask, reason) pairs; the first matching rule wins."""
    out = np.full(n, None, dtype=object)
    free = np.ones(n, dtype=bool)
    for mask, reason in rules:
        m = mask.to_numpy(zero_copy_only=False) if isinstance(mask, pa.Array | pa.ChunkedArray) else mask
        m = np.asarray(m, dtype=bool) & free
        out[m] = reason
        free &= ~m
    return pa.array(out, type=pa.string())


# ---- global operators ------------------------------------------------------------------------


class GlobalOperator(Operator):
    """Needs to see the whole corpus: declares `stages()`, then `apply_shard` runs per shard.

    The executor materializes this step's input as shards, runs the stages in order, then
    calls `apply_shard(table, shard, ctx)` on each batch of each shard.
    """

    kind: ClassVar[str] = "global"
    _ctx: StageContext | None = PrivateAttr(default=None)

    def stages(self) -> list[Stage]:  # pragma: no cover - abstract
        raise NotImplementedError

    def bind(self, ctx: StageContext) -> None:
        """Give the operator its context before `apply_shard` (the executor calls this)."""
        self._ctx = ctx

    def apply_shard(self, table: pa.Table, shard_index: int, ctx: StageContext) -> StepResult:
        """Default: keep everything (e.g. training steps that only read)."""
        return StepResult(table)

    def apply(self, table: pa.Table) -> StepResult:
        if self._ctx is None:
            raise RuntimeError(f"{self.name}: a global operator runs through its stages; use run()")
        shard = int(table.column(DOC_KEY)[0].as_py()) >> SHARD_BITS if table.num_rows else 0
        return self.apply_shard(table, shard, self._ctx)

    def run(self, data: pa.Table | Sequence[dict[str, Any]]) -> tuple[pa.Table, pa.Table, pa.Array | None]:
        """Python API: run every stage in memory on one table treated as one shard."""
        table = as_table(data, with_doc_key=True)
        self.ensure_setup()
        with tempfile.TemporaryDirectory(prefix=f"{self.name}-") as tmp:
            ctx = StageContext(workdir=Location(tmp), shard_names=["shard-0"], artifacts=Location(tmp) / "artifacts")

            def batches(columns: list[str] | None) -> Iterator[pa.Table]:
                yield table.select(columns) if columns else table

            inputs = [ShardInput(0, "shard-0", batches)]
            ctx.shards = lambda: iter(inputs)
            for stage in self.stages():
                if stage.skipped(ctx):
                    continue
                for task in stage.task_indices([0]):
                    stage.run(task, inputs, ctx)
            self.bind(ctx)
            result = self.apply_shard(table, 0, ctx)
            for k, v in ctx.metrics.items():
                self._metrics[k] += v
            return result.split()
