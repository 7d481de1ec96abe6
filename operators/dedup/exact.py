"""Exact deduplication by a hash of the normalized text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import xxhash
from pydantic import Field

from operators.base import (
    DOC_KEY,
    TEXT,
    GlobalOperator,
    ShardInput,
    Stage,
    StageContext,
    StepResult,
    atomic_write_table,
    reasons_from_rules,
)
from operators.registry import register


def normalized_for_hash(text: pa.ChunkedArray | pa.Array, lowercase: bool) -> pa.Array:
    """NFC, whitespace runs collapsed, trimmed (and lowercased): what 'the same text' means."""
    text = pc.utf8_normalize(pc.fill_null(text, ""), form="NFC")
    text = pc.utf8_trim_whitespace(pc.replace_substring_regex(text, r"\s+", " "))
    return pc.utf8_lower(text) if lowercase else text


def hash_texts(text: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """64-bit xxh3 of each string, as uint64."""
    h = xxhash.xxh3_64_intdigest
    return np.fromiter((h(t.encode("utf-8")) for t in text.to_pylist()), dtype=np.uint64, count=len(text))


@register
class ExactDedup(GlobalOperator):
    """Remove documents whose normalized text equals an earlier document's (corpus order:
    input shard order, then row order), so the first occurrence is kept."""

    name = "exact_dedup"
    lowercase: bool = Field(False, description="compare case-insensitively")
    partitions: int = Field(16, ge=1, le=4096, description="hash partitions for the global stage")

    def stages(self) -> list[Stage]:
        return [
            Stage("hash", "shard", self._hash_shard),
            Stage("find_duplicates", "partition", self._find_duplicates, partitions=self.partitions),
        ]

    def _hash_shard(self, shard: ShardInput, ctx: StageContext) -> None:
        hashes, keys = [], []
        for batch in shard.batches([TEXT, DOC_KEY]):
            hashes.append(hash_texts(normalized_for_hash(batch.column(TEXT), self.lowercase)))
            keys.append(batch.column(DOC_KEY).to_numpy())
        h = np.concatenate(hashes) if hashes else np.zeros(0, np.uint64)
        k = np.concatenate(keys) if keys else np.zeros(0, np.int64)
        part = h % np.uint64(self.partitions)
        for p in range(self.partitions):
            sel = part == p
            atomic_write_table(
                pa.table({"hash": h[sel], DOC_KEY: k[sel]}), ctx.workdir / "hashes" / f"p{p:05d}" / f"s{shard.index:06d}.parquet"
            )

    def _find_duplicates(self, p: int, ctx: StageContext) -> None:
        folder = ctx.workdir / "hashes" / f"p{p:05d}"
        files = sorted(folder.glob("s*.parquet"))
        table = pa.concat_tables([pq.read_table(f) for f in files]) if files else pa.table(
            {"hash": pa.array([], pa.uint64()), DOC_KEY: pa.array([], pa.int64())}
        )
        h = table.column("hash").to_numpy()
        k = table.column(DOC_KEY).to_numpy()
        order = np.lexsort((k, h))
        h, k = h[order], k[order]
        dup = np.zeros(len(h), dtype=bool)
        dup[1:] = h[1:] == h[:-1]
        atomic_write_table(pa.table({DOC_KEY: np.sort(k[dup])}), ctx.workdir / "duplicates" / f"p{p:05d}.parquet")

    def _duplicates_of_shard(self, shard_index: int, ctx: StageContext) -> np.ndarray:
        cache = getattr(self, "_dup_cache", None)
        if cache is not None and cache[0] == (str(ctx.workdir), shard_index):
            return cache[1]
        keys = []
        lo, hi = shard_index << 40, (shard_index + 1) << 40
        for f in sorted(Path(ctx.workdir, "duplicates").glob("p*.parquet")):
            k = pq.read_table(f).column(DOC_KEY).to_numpy()
            keys.append(k[(k >= lo) & (k < hi)])
        result = np.sort(np.concatenate(keys)) if keys else np.zeros(0, np.int64)
        object.__setattr__(self, "_dup_cache", ((str(ctx.workdir), shard_index), result))
        return result

    def apply_shard(self, table: pa.Table, shard_index: int, ctx: StageContext) -> StepResult:
        dups = self._duplicates_of_shard(shard_index, ctx)
        mask = np.isin(table.column(DOC_KEY).to_numpy(), dups, assume_unique=False)
        return StepResult(table, reasons_from_rules(table.num_rows, [(mask, "exact_dedup:duplicate")]))
