"""Exact deduplication by a hash of the normalized text, within a run (over every input
dataset of the recipe) and against saved indexes of earlier runs."""

from __future__ import annotations

import os
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, PrivateAttr

from operators.base import (
    DOC_KEY,
    TEXT,
    GlobalOperator,
    ShardInput,
    Stage,
    StageContext,
    StepResult,
    atomic_write_table,
)
from operators.dedup.hashing import hash_strings
from operators.dedup.keep import KeepRule, score_column
from operators.dedup.spill import (
    PartitionedWriter,
    hash_partition,
    read_partition,
    shard_partition,
    shard_rows,
    write_json,
    write_partitioned,
)
from operators.registry import register
from operators.workfiles import file_names, location, parquet_rows, read_parquet
from storage.location import Location

INDEX_FORMAT = "exact_dedup_index/1"
HASH_SCHEMA = pa.schema([("hash", pa.uint64()), (DOC_KEY, pa.int64()), ("score", pa.float64())])
REMOVED_SCHEMA = pa.schema([(DOC_KEY, pa.int64()), ("source", pa.int32())])  # source -1: this run, i: against[i]


def normalized_for_hash(text: pa.ChunkedArray | pa.Array, lowercase: bool) -> pa.Array:
    """NFC, whitespace runs collapsed, trimmed (and lowercased): what 'the same text' means."""
    text = pc.utf8_normalize(pc.fill_null(text, ""), form="NFC")
    text = pc.utf8_trim_whitespace(pc.replace_substring_regex(text, r"\s+", " "))
    return pc.utf8_lower(text) if lowercase else text


def hash_texts(text: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """64-bit hash of each string (see `hashing.hash_strings`), as uint64."""
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks() if text.num_chunks != 1 else text.chunk(0)
    return hash_strings(text)


class ExactIndex:
    """A saved set of text hashes: `index.json` plus one sorted Parquet file per hash range, in a
    local folder or at a URL (read and written through the storage layer)."""

    def __init__(self, path: str | os.PathLike | Location):
        self.path = location(path)

    def manifest(self) -> dict:
        info = (self.path / "index.json").read_mark()
        if info is None:
            raise FileNotFoundError(f"{self.path}: not an exact_dedup index (no index.json)")
        if info.get("format") != INDEX_FORMAT:
            raise ValueError(f"{self.path}: index format {info.get('format')!r}, expected {INDEX_FORMAT!r}")
        return info

    def hashes_for(self, p: int, partitions: int) -> np.ndarray:
        """The index's hashes that fall in hash-range partition p of `partitions`."""
        info = self.manifest()
        theirs = int(info["partitions"])
        # partition p holds the hashes whose top 32 bits t satisfy floor(t * partitions / 2**32) == p
        lo_top = -(-(p << 32) // partitions)
        hi_top = -(-((p + 1) << 32) // partitions) - 1
        first, last = (lo_top * theirs) >> 32, (hi_top * theirs) >> 32
        found = []
        for i in range(first, last + 1):
            f = self.path / f"part-{i:05d}.parquet"
            if f.exists():
                h = read_parquet(f).column("hash").to_numpy()
                found.append(h[hash_partition(h, partitions) == p])
        return np.concatenate(found) if found else np.zeros(0, np.uint64)

    def write_part(self, p: int, hashes: np.ndarray) -> None:
        atomic_write_table(pa.table({"hash": pa.array(np.unique(hashes), pa.uint64())}), self.path / f"part-{p:05d}.parquet")

    def write_manifest(self, partitions: int, lowercase: bool, documents: int) -> None:
        write_json(self.path / "index.json", {"format": INDEX_FORMAT, "partitions": partitions,
                                                     "lowercase": lowercase, "hashes": documents})


@register
class ExactDedup(GlobalOperator):
    """Remove documents whose normalized text (NFC, whitespace collapsed, optionally lowercased)
    equals another's. Within the run the first in corpus order is kept (input datasets in the
    order the recipe lists them, then shard and row order), or the one with the highest
    `keep_column` value. Documents whose text is in a saved index of an earlier run (`against`)
    are removed too (`exact_dedup:in_index`), so new data can be deduplicated against old.

    The run saves its own index (the hashes of the documents this step keeps, plus those of
    `against`) to `<output>/artifacts/<index_name>/`, to be named in a later run's `against`.
    """

    name = "exact_dedup"
    reasons: ClassVar[tuple[str, ...]] = ('exact_dedup:duplicate', 'exact_dedup:in_index')
    lowercase: bool = Field(False, description="compare case-insensitively")
    partitions: int = Field(16, ge=1, le=4096, description="hash partitions for the global stage")
    keep_column: str | None = Field(None, description="keep the copy with the highest value of this column; null: the first")
    against: list[str] = Field(default_factory=list, description="index folders of earlier runs (<output>/artifacts/<index_name>)")
    save_index: bool = Field(True, description="save this run's index to the run's artifacts")
    index_name: str = Field("exact_dedup_index", pattern=r"^[A-Za-z0-9_.-]+$", description="folder name of the saved index")

    _cache: tuple | None = PrivateAttr(default=None)

    def stages(self) -> list[Stage]:
        stages = [
            Stage("hash", "shard", self._hash_shard),
            Stage("find_duplicates", "partition", self._find_duplicates, partitions=self.partitions),
        ]
        if self.save_index:
            stages.append(Stage("save_index", "global", self._save_manifest))
        return stages

    def _indexes(self) -> list[ExactIndex]:
        indexes = [ExactIndex(p) for p in self.against]
        for idx in indexes:
            info = idx.manifest()
            if bool(info.get("lowercase")) != self.lowercase:
                raise ValueError(f"index {idx.path} was built with lowercase={info.get('lowercase')}, "
                                 f"this step uses lowercase={self.lowercase}")
        return indexes

    def setup(self) -> None:
        self._indexes()  # fail before any work if an index is missing or incompatible

    def _hash_shard(self, shard: ShardInput, ctx: StageContext) -> None:
        keep = KeepRule(self.keep_column)
        writer = PartitionedWriter(ctx.workdir / "hashes", shard.index, self.partitions, HASH_SCHEMA)
        try:
            for batch in keep.batches(shard, [TEXT, DOC_KEY]):
                h = hash_texts(normalized_for_hash(batch.column(TEXT), self.lowercase))
                keys = batch.column(DOC_KEY).to_numpy()
                score = score_column(batch, keep.column) if keep.column else np.zeros(len(keys))
                writer.write(hash_partition(h, self.partitions), {"hash": h, DOC_KEY: keys, "score": score})
            writer.commit()
        except BaseException:
            writer.abort()
            raise

    def _find_duplicates(self, p: int, ctx: StageContext) -> None:
        table = read_partition(ctx.workdir / "hashes", p, HASH_SCHEMA)
        h = table.column("hash").to_numpy()
        k = table.column(DOC_KEY).to_numpy()
        score = table.column("score").to_numpy()
        order = np.lexsort((k, -score, h))
        h, k = h[order], k[order]
        dup = np.zeros(len(h), dtype=bool)
        dup[1:] = h[1:] == h[:-1]
        source = np.full(len(h), -1, dtype=np.int32)
        source[~dup] = -2  # kept, unless an index holds the hash
        known = []
        for i, idx in enumerate(self._indexes()):
            old = idx.hashes_for(p, self.partitions)
            known.append(old)
            hit = np.isin(h, old) & (source == -2)
            source[hit] = i
            ctx.metrics[f"exact_dedup:in_index:{idx.path.name}"] += int(hit.sum())
        removed = source != -2
        write_partitioned(ctx.workdir / "removed", p, shard_partition(k[removed], ctx.num_shards, self.partitions),
                          {DOC_KEY: k[removed], "source": source[removed]}, self.partitions)
        if self.save_index and ctx.artifacts is not None:
            ExactIndex(ctx.artifacts / self.index_name).write_part(p, np.concatenate([h[~removed], *known]))
            ctx.metrics["exact_dedup:index_hashes"] += int(len(np.unique(np.concatenate([h[~removed], *known]))))

    def _save_manifest(self, ctx: StageContext) -> None:
        if ctx.artifacts is None:
            return
        folder = ctx.artifacts / self.index_name
        total = sum(parquet_rows(folder / name) for name in file_names(folder, "part-", ".parquet"))
        ExactIndex(folder).write_manifest(self.partitions, self.lowercase, total)

    def _removed_of_shard(self, shard_index: int, ctx: StageContext) -> tuple[np.ndarray, np.ndarray]:
        tag = (str(ctx.workdir), shard_index)
        if self._cache is not None and self._cache[0] == tag:
            return self._cache[1]
        t = shard_rows(ctx.workdir / "removed", shard_index, ctx.num_shards, self.partitions, REMOVED_SCHEMA)
        k = t.column(DOC_KEY).to_numpy()
        order = np.argsort(k)
        result = (k[order], t.column("source").to_numpy()[order])
        self._cache = (tag, result)
        return result

    def apply_shard(self, table: pa.Table, shard_index: int, ctx: StageContext) -> StepResult:
        keys, source = self._removed_of_shard(shard_index, ctx)
        batch_keys = table.column(DOC_KEY).to_numpy()
        reasons = np.full(len(batch_keys), None, dtype=object)
        if len(keys):
            pos = np.minimum(np.searchsorted(keys, batch_keys), len(keys) - 1)
            hit = keys[pos] == batch_keys
            src = source[pos]
            reasons[hit & (src == -1)] = "exact_dedup:duplicate"
            reasons[hit & (src >= 0)] = "exact_dedup:in_index"
        return StepResult(table, pa.array(reasons, pa.string()))
