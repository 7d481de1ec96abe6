"""The operator API: Mapper, Filter and GlobalOperator.

Operators are pydantic models: their fields are their parameters (validated, documented, listed
by `pipeline ops`), construction stores them and does no work. Heavy state (models, engines) is
built in `setup()`, which the executor calls once per process before the first batch.

Inside the pipeline every batch is a `pyarrow.Table` whose text column is named `text` and whose
id column is `id`; the executor also carries `_doc_key` (int64, shard index << 40 | row), a
global, deterministic order that global operators use for keep rules.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, PrivateAttr

TEXT = "text"
ID = "id"
DOC_KEY = "_doc_key"
SHARD_BITS = 40
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


@dataclass(frozen=True)
class Resources:
    """What one instance of an operator needs; the Ray executor reserves it."""

    cpus: float = 1.0
    memory_gb: float = 0.0


class Operator(BaseModel):
    """Base of every operator. Subclasses set `name` and implement `apply`."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, frozen=False)

    name: ClassVar[str] = ""
    kind: ClassVar[str] = "operator"
    resources: ClassVar[Resources] = Resources()

    _ready: bool = PrivateAttr(default=False)
    _metrics: Counter = PrivateAttr(default_factory=Counter)
    # the run's artifacts folder (<output>/artifacts), set by the executor before setup(), so a
    # step can load a model that an earlier training step of the same recipe wrote
    _run_artifacts: Path | None = PrivateAttr(default=None)

    # ---- lifecycle -------------------------------------------------------------------------
    def setup(self) -> None:
        """Load models or build engines. Called once per process, before the first batch."""

    def bind_run(self, artifacts: Path) -> None:
        self._run_artifacts = artifacts

    def resolve_path(self, ref: str) -> Path:
        """A model path, or `artifact:<name>`: what a training step of this run wrote to
        <output>/artifacts/<name>."""
        if not ref.startswith(ARTIFACT_PREFIX):
            return Path(ref).expanduser()
        if self._run_artifacts is None:
            raise FileNotFoundError(f"{self.name}: {ref!r} names a model trained earlier in a recipe, but this "
                                    "operator runs outside a recipe run; give the model's path instead")
        return self._run_artifacts / ref[len(ARTIFACT_PREFIX):].strip("/")

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

    def process(self, table: pa.Table) -> pa.Table:  # pragma: no cover - abstract
        raise NotImplementedError

    def apply(self, table: pa.Table) -> StepResult:
        return StepResult(self.process(table))


class Filter(Operator):
    """Computes statistics as columns (`compute_stats`), then decides per row (`decide`).

    The two are separate so that `pipeline analyze` can compute statistics without filtering.
    `decide` returns a string array: null keeps the row, a string is the removal reason, named
    `family:rule` (e.g. `gopher_quality:mean_word_length`).
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
_COMPARE = {"<": pc.less, "<=": pc.less_equal, ">": pc.greater, ">=": pc.greater_equal}


class RuleFilter(Filter):
    """A filter whose decisions are threshold rules on its statistic columns.

    `rules()` lists (column, op, threshold, rule name); a row is removed by the first rule whose
    `column op threshold` holds, with reason `family:rule`. A rule with threshold None is off.
    """

    family: ClassVar[str] = ""

    def rules(self) -> list[tuple[str, Op, float | None, str]]:  # pragma: no cover - abstract
        raise NotImplementedError

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


def with_column(table: pa.Table, name: str, values: Any, type: pa.DataType | None = None) -> pa.Table:
    """Set (add or replace) a column."""
    arr = values if isinstance(values, pa.Array | pa.ChunkedArray) else pa.array(values, type=type)
    if type is not None and arr.type != type:
        arr = arr.cast(type)
    idx = table.schema.get_field_index(name)
    if idx >= 0:
        return table.set_column(idx, name, arr)
    return table.append_column(name, arr)


def texts(table: pa.Table) -> list[str]:
    """The text column as Python strings (null as empty)."""
    return [t if t is not None else "" for t in table.column(TEXT).to_pylist()]


def as_table(data: pa.Table | pa.RecordBatch | Sequence[dict[str, Any]], with_doc_key: bool = False) -> pa.Table:
    """A table from a table, a record batch or a list of dicts; lists (and, when asked, any
    table lacking it) get `_doc_key` = row number, the corpus order global operators need."""
    if isinstance(data, pa.Table):
        table = data
    elif isinstance(data, pa.RecordBatch):
        table = pa.Table.from_batches([data])
    else:
        table = pa.Table.from_pylist(list(data))
        with_doc_key = True
    if with_doc_key and DOC_KEY not in table.column_names:
        table = table.append_column(DOC_KEY, pa.array(np.arange(table.num_rows, dtype=np.int64)))
    return table


# ---- global operators ------------------------------------------------------------------------


class ShardInput:
    """One input shard of a global operator's stage: its index, name and batches."""

    def __init__(self, index: int, name: str, batches: Callable[[list[str] | None], Iterator[pa.Table]]):
        self.index = index
        self.name = name
        self._batches = batches

    def batches(self, columns: list[str] | None = None) -> Iterator[pa.Table]:
        return self._batches(columns)


@dataclass
class StageContext:
    """What a stage sees: a work folder shared by all of this operator's stages (on every
    worker), the shard names in order, and (for global stages) every shard's batches."""

    workdir: Path
    shard_names: list[str]
    shards: Callable[[], Iterator[ShardInput]] | None = None
    metrics: Counter = field(default_factory=Counter)
    artifacts: Path | None = None  # where trained artifacts go (the run's output/artifacts)

    @property
    def num_shards(self) -> int:
        return len(self.shard_names)

    def iter_shards(self) -> Iterator[ShardInput]:
        if self.shards is None:
            raise RuntimeError("this stage has no access to shard data")
        return self.shards()


@dataclass(frozen=True)
class Stage:
    """One declared stage of a global operator.

    kind = "shard":     fn(shard: ShardInput, ctx) runs once per shard, in parallel.
    kind = "partition": fn(partition: int, ctx) runs once per partition, in parallel.
    kind = "global":    fn(ctx) runs once.
    Stages write what they make under ctx.workdir (use `atomic_write_table`); the executor marks
    a stage done only when its function returned, so a rerun repeats unfinished stages.
    """

    name: str
    kind: Literal["shard", "partition", "global"]
    fn: Callable[..., None]
    partitions: int = 1
    resources: Resources = Resources()


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
            ctx = StageContext(workdir=Path(tmp), shard_names=["shard-0"], artifacts=Path(tmp) / "artifacts")

            def batches(columns: list[str] | None) -> Iterator[pa.Table]:
                yield table.select(columns) if columns else table

            ctx.shards = lambda: iter([ShardInput(0, "shard-0", batches)])
            for stage in self.stages():
                if stage.kind == "shard":
                    stage.fn(ShardInput(0, "shard-0", batches), ctx)
                elif stage.kind == "partition":
                    for p in range(stage.partitions):
                        stage.fn(p, ctx)
                else:
                    stage.fn(ctx)
            self.bind(ctx)
            result = self.apply_shard(table, 0, ctx)
            for k, v in ctx.metrics.items():
                self._metrics[k] += v
            return result.split()


def atomic_write_table(table: pa.Table, path: Path, compression: str = "zstd") -> None:
    """Write Parquet to a temporary name, then rename: readers never see a partial file."""
    import os

    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    pq.write_table(table, tmp, compression=compression)
    os.replace(tmp, path)
