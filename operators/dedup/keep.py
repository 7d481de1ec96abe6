"""Which document of a duplicate group survives: the first in corpus order, or the one with the
highest value of a chosen column (ties: corpus order). Scores travel between stages as files."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from operators.base import DOC_KEY, ShardInput, atomic_write_table
from operators.dedup.spill import shards_of_partition
from operators.workfiles import location, read_parquet
from storage.location import Location

SCORE_SCHEMA = pa.schema([(DOC_KEY, pa.int64()), ("score", pa.float64())])


@dataclass(frozen=True)
class KeepRule:
    column: str | None = None

    def columns(self, base: list[str]) -> list[str]:
        return base + ([self.column] if self.column and self.column not in base else [])

    def batches(self, shard: ShardInput, base: list[str]) -> Iterator[pa.Table]:
        """The shard's batches with `base` columns and the keep column; a keep column the input
        lacks is an error naming it."""
        try:
            yield from shard.batches(self.columns(base))
        except (KeyError, pa.ArrowInvalid) as exc:
            if self.column and self.column in str(exc):
                raise ValueError(f"keep_column {self.column!r} is not a column of shard {shard.name}") from None
            raise


def score_column(batch: pa.Table, column: str) -> np.ndarray:
    """The keep column as float64; null and NaN rank lowest. A missing or non-numeric column is
    an error naming the column."""
    if column not in batch.column_names:
        raise ValueError(f"keep_column {column!r} is not a column of the input (columns: {', '.join(batch.column_names)})")
    values = batch.column(column)
    if not (pa.types.is_integer(values.type) or pa.types.is_floating(values.type) or pa.types.is_boolean(values.type)):
        raise ValueError(f"keep_column {column!r} has type {values.type}; a numeric column is needed")
    out = pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False)
    out = np.where(np.isnan(out), -np.inf, out)
    return out


def _scores_path(workdir: Location, shard: int) -> Location:
    return location(workdir) / "scores" / f"s{shard:06d}.parquet"


def write_scores(workdir: Location, shard: int, parts: list[tuple[np.ndarray, np.ndarray]]) -> None:
    keys = np.concatenate([k for k, _ in parts]) if parts else np.zeros(0, np.int64)
    scores = np.concatenate([s for _, s in parts]) if parts else np.zeros(0, np.float64)
    atomic_write_table(pa.table({DOC_KEY: keys, "score": scores}, schema=SCORE_SCHEMA), _scores_path(workdir, shard), "lz4")


def read_scores(workdir: Location, p: int, partitions: int, num_shards: int, nodes: np.ndarray) -> np.ndarray:
    """Scores of `nodes`, all of which belong to the shards of partition p."""
    keys, scores = [], []
    for s in shards_of_partition(p, num_shards, partitions):
        path = _scores_path(workdir, s)
        if path.exists():
            t = read_parquet(path)
            keys.append(t.column(DOC_KEY).to_numpy())
            scores.append(t.column("score").to_numpy())
    if not keys:
        return np.full(len(nodes), -np.inf)
    k = np.concatenate(keys)
    sc = np.concatenate(scores)
    order = np.argsort(k)
    k, sc = k[order], sc[order]
    pos = np.minimum(np.searchsorted(k, nodes), max(len(k) - 1, 0))
    if len(k) == 0 or not np.array_equal(k[pos], nodes):
        raise RuntimeError(f"scores missing for some documents of partition {p}")
    return sc[pos]
