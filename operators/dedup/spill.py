"""Partitioned Parquet files that stages use to hand data to each other (and to spill it).

Layout: `<folder>/p<dest>/from<sender>.parquet`. A task writes one file per destination it has
rows for; the task of partition `dest` in the next stage reads every file of `p<dest>` in name
order, which is the sender order, so what it sees does not depend on timing or worker count.
Files are written atomically (storage.files), so a rerun of a failed task simply overwrites its
own files. Folders are Locations: local disk or an object store.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from operators.base import SHARD_BITS
from operators.workfiles import file_names, location, read_parquet
from storage import files, many
from storage.location import Location

# Intermediate files are read once, soon after: favour speed over size. Hash keys neither compress
# nor dictionary-encode; trying costs 10x the time of a plain write (lz4 + dictionary: 0.3 s per
# million rows of (uint64, int64), plain: 0.03 s).
COMPRESSION = "none"
WRITE_OPTIONS = {"compression": COMPRESSION, "use_dictionary": False, "write_statistics": False}
FLUSH_ROWS = 1 << 18


def part_dir(folder: Location, dest: int) -> Location:
    return location(folder) / f"p{dest:05d}"


def part_file(folder: Location, dest: int, sender: int) -> Location:
    return part_dir(folder, dest) / f"from{sender:06d}.parquet"


def shard_partition(keys: np.ndarray, num_shards: int, partitions: int) -> np.ndarray:
    """The partition owning each `_doc_key`: contiguous runs of shards, so one partition holds
    everything about the documents of its shards."""
    shards = (np.asarray(keys, dtype=np.int64) >> SHARD_BITS).astype(np.int64)
    return (shards * partitions) // max(num_shards, 1)


def shards_of_partition(p: int, num_shards: int, partitions: int) -> range:
    """The shard indices whose documents `shard_partition` sends to partition p."""
    lo = -(-p * num_shards // partitions)
    hi = -(-(p + 1) * num_shards // partitions)
    return range(lo, hi)


def hash_partition(hashes: np.ndarray, partitions: int) -> np.ndarray:
    """Partition of a uniformly distributed 64-bit hash by range: p = floor(h * P / 2**64)."""
    top = (np.asarray(hashes, dtype=np.uint64) >> np.uint64(32)).astype(np.uint64)
    return ((top * np.uint64(partitions)) >> np.uint64(32)).astype(np.int64)


def _atomic_write(table: pa.Table, path: Location) -> None:
    with files.staging_file(path) as tmp:
        pq.write_table(table, tmp, **WRITE_OPTIONS)


def write_partitioned(folder: Location, sender: int, dest: np.ndarray, columns: dict[str, np.ndarray],
                      partitions: int) -> None:
    """Write the rows of `columns` to the file of their destination partition (one call per task)."""
    order = np.argsort(dest, kind="stable")
    sorted_dest = dest[order]
    bounds = np.searchsorted(sorted_dest, np.arange(partitions + 1))
    with files.batched_uploads():  # on a store: one round of requests for all partitions
        for p in range(partitions):
            lo, hi = bounds[p], bounds[p + 1]
            if lo == hi:
                continue
            sel = order[lo:hi]
            _atomic_write(pa.table({k: v[sel] for k, v in columns.items()}), part_file(folder, p, sender))


class PartitionedWriter:
    """Streams rows to per-destination Parquet files with bounded memory (a shard-stage task
    that produces more than fits in memory); files appear only on `commit()`."""

    def __init__(self, folder: Location, sender: int, partitions: int, schema: pa.Schema):
        self.folder = folder
        self.sender = sender
        self.partitions = partitions
        self.schema = schema
        self._buffers: list[list[pa.Table]] = [[] for _ in range(partitions)]
        self._buffered = np.zeros(partitions, dtype=np.int64)
        self._writers: dict[int, pq.ParquetWriter] = {}
        self._files: dict[int, files.AtomicFile] = {}

    def write(self, dest: np.ndarray, columns: dict[str, np.ndarray]) -> None:
        order = np.argsort(dest, kind="stable")
        bounds = np.searchsorted(dest[order], np.arange(self.partitions + 1))
        for p in np.flatnonzero(np.diff(bounds)):
            sel = order[bounds[p]:bounds[p + 1]]
            self._buffers[p].append(pa.table({k: v[sel] for k, v in columns.items()}, schema=self.schema))
            self._buffered[p] += len(sel)
            if self._buffered[p] >= FLUSH_ROWS:
                self._flush(int(p))

    def _flush(self, p: int) -> None:
        if not self._buffers[p]:
            return
        writer = self._writers.get(p)
        if writer is None:
            part = self._files[p] = files.AtomicFile(part_file(self.folder, p, self.sender))
            part.handle.close()  # Arrow writes the temporary by path, natively
            writer = self._writers[p] = pq.ParquetWriter(str(part.temp_path), self.schema, **WRITE_OPTIONS)
        writer.write_table(pa.concat_tables(self._buffers[p]))
        self._buffers[p] = []
        self._buffered[p] = 0

    def commit(self) -> None:
        for p in range(self.partitions):
            self._flush(p)
        with files.batched_uploads():
            for p, writer in sorted(self._writers.items()):
                writer.close()
                self._files.pop(p).commit()
        self._writers.clear()

    def abort(self) -> None:
        for p, writer in self._writers.items():
            writer.close()
            self._files.pop(p).abort()
        self._writers.clear()


def read_partition(folder: Location, dest: int, schema: pa.Schema) -> pa.Table:
    """Every sender's rows for partition `dest`, in sender order (empty table if none)."""
    where = part_dir(folder, dest)
    names = file_names(where, "from", ".parquet")
    if not names:
        return schema.empty_table()
    if not where.is_remote:  # Arrow reads by path: the store's way below costs big local partitions
        # ~1.3x the time and 1.85x the memory (bench/RESULTS.md, "one read path for spill partitions?")
        return pa.concat_tables([read_parquet(where / name, schema=schema) for name in names])
    # on a store: every sender's file in one round of requests (the partition is read whole anyway)
    blobs = many.read_many([where / name for name in names])
    missing = [name for name, blob in zip(names, blobs, strict=True) if blob is None]
    if missing:
        raise FileNotFoundError(f"{where / missing[0]} was listed but is gone")
    return pa.concat_tables([pq.read_table(pa.BufferReader(blob), schema=schema) for blob in blobs])


def shard_rows(folder: Location, shard_index: int, num_shards: int, partitions: int, schema: pa.Schema) -> pa.Table:
    """The rows of one shard (by the shard bits of `_doc_key`) in a spill partitioned by shard."""
    p = int(shard_partition(np.array([shard_index << SHARD_BITS]), num_shards, partitions)[0])
    table = read_partition(folder, p, schema)
    return table.filter((table.column("_doc_key").to_numpy() >> SHARD_BITS) == shard_index)


def write_json(path: Location, data: dict) -> None:
    """Write JSON atomically (the storage layer)."""
    files.write_text(path, json.dumps(data, sort_keys=True))
