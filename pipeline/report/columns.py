"""Bounded-memory scan of the statistic columns of many Parquet files.

Only numeric columns (and a few categorical ones such as `lang`) are read, batch by batch.
Sums, non-null counts and category counts are exact; the values kept for histograms and
quantiles are a seeded Bernoulli sample at one common rate, chosen so that at most `cap` rows
are held, so the proportions between groups (kept, removed here, removed elsewhere) stay right.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.report.run_data import parquet_file

CATEGORICAL = ("lang",)
DEFAULT_CAP = 200_000
BATCH_ROWS = 65_536


def is_numeric(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)


def is_statistic(name: str, t: pa.DataType, exclude: set[str]) -> bool:
    """Numeric columns the pipeline added: not internal (`_...`), not identifiers, not input columns."""
    return (is_numeric(t) and not name.startswith("_") and name != "id" and not name.endswith("_id")
            and name not in exclude)


def as_float(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Float64 numpy values, nulls as NaN."""
    arr = pc.cast(values, pa.float64()) if values.type != pa.float64() else values
    return pc.fill_null(arr, np.nan).to_numpy(zero_copy_only=False)


@dataclass
class ColumnScan:
    rows_total: int
    rate: float
    values: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # column -> group -> sampled values
    sums: dict[str, Counter] = field(default_factory=dict)  # column -> group -> exact sum
    counts: dict[str, Counter] = field(default_factory=dict)  # column -> group -> non-null rows
    nonzero: dict[str, Counter] = field(default_factory=dict)  # column -> group -> rows with a value > 0
    categories: dict[str, dict[str, Counter]] = field(default_factory=dict)  # column -> group -> value counts
    rows: Counter = field(default_factory=Counter)  # group -> rows

    @property
    def sampled(self) -> bool:
        return self.rate < 1.0

    def columns(self) -> list[str]:
        return list(self.values)

    def group_values(self, column: str, groups: Iterable[str]) -> np.ndarray:
        parts = [self.values.get(column, {}).get(g) for g in groups]
        parts = [p for p in parts if p is not None]
        return np.concatenate(parts) if parts else np.zeros(0)

    def total(self, column: str) -> float:
        return float(sum(self.sums.get(column, Counter()).values()))


def scan_columns(sources: Sequence[tuple[str, Path]], exclude: set[str], cap: int = DEFAULT_CAP, seed: int = 0,
                 categorical: Sequence[str] = CATEGORICAL) -> ColumnScan:
    """Scan `(group, file)` pairs; each file contributes its own statistic columns."""
    metas = [(g, p, parquet_file(p)) for g, p in sources]
    total = sum(pf.metadata.num_rows for _, _, pf in metas)
    rate = min(1.0, cap / total) if total else 1.0
    scan = ColumnScan(rows_total=total, rate=rate)
    parts: dict[str, dict[str, list[np.ndarray]]] = {}
    for i, (group, _path, pf) in enumerate(metas):
        schema = pf.schema_arrow
        numeric = [f.name for f in schema if is_statistic(f.name, f.type, exclude)]
        cats = [c for c in categorical if c in schema.names]
        if not numeric and not cats:
            scan.rows[group] += pf.metadata.num_rows
            continue
        rng = np.random.default_rng([seed, i])
        for batch in pf.iter_batches(batch_size=BATCH_ROWS, columns=numeric + cats):
            n = batch.num_rows
            scan.rows[group] += n
            keep = rng.random(n) < rate if rate < 1.0 else None
            for name in numeric:
                col = batch.column(name)
                values = as_float(col)
                finite = np.isfinite(values)
                scan.sums.setdefault(name, Counter())[group] += float(values[finite].sum())
                scan.counts.setdefault(name, Counter())[group] += int(finite.sum())
                scan.nonzero.setdefault(name, Counter())[group] += int(np.count_nonzero(values[finite] > 0))
                parts.setdefault(name, {}).setdefault(group, []).append(values if keep is None else values[keep])
            for name in cats:
                counts = pc.value_counts(pc.fill_null(batch.column(name).cast(pa.string()), "(none)"))
                bucket = scan.categories.setdefault(name, {}).setdefault(group, Counter())
                for item in counts.to_pylist():
                    bucket[item["values"]] += item["counts"]
    scan.values = {c: {g: np.concatenate(v) for g, v in by_group.items()} for c, by_group in parts.items()}
    return scan
