"""Exact Jaccard check of MinHash candidate pairs, partitioned.

Each shard's shingle sets (sorted unique 64-bit window hashes) are stored per shard. A candidate
pair (anchor, member) travels to the anchor's partition, picks up the anchor's shingles, travels
to the member's partition, and is compared there; only pairs at or above the threshold go on to
the connected components. Partitions own contiguous shards, so each reads only its own shards.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from operators.base import DOC_KEY
from operators.dedup.spill import COMPRESSION, read_partition, shard_partition, shards_of_partition, write_partitioned
from operators.workfiles import location, read_parquet
from storage import files
from storage.location import Location

SHINGLES_SCHEMA = pa.schema([(DOC_KEY, pa.int64()), ("shingles", pa.list_(pa.uint64()))])
PAIR_SCHEMA = pa.schema([("u", pa.int64()), ("v", pa.int64())])
PAIR_SHINGLES_SCHEMA = pa.schema([("u", pa.int64()), ("v", pa.int64()), ("shingles", pa.list_(pa.uint64()))])


def _unique_per_doc(windows: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique hashes per document: (values, offsets)."""
    doc = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    order = np.lexsort((windows, doc))
    doc, w = doc[order], windows[order]
    fresh = np.ones(len(w), dtype=bool)
    fresh[1:] = (doc[1:] != doc[:-1]) | (w[1:] != w[:-1])
    doc, w = doc[fresh], w[fresh]
    new_offsets = np.searchsorted(doc, np.arange(len(offsets)))
    return w, new_offsets


def jaccard(a_values: np.ndarray, a_offsets: np.ndarray, b_values: np.ndarray, b_offsets: np.ndarray) -> np.ndarray:
    """Jaccard similarity of pairs of sorted unique sets, vectorized: pair i is
    a[a_offsets[i]:a_offsets[i+1]] against b[b_offsets[i]:b_offsets[i+1]]."""
    n = len(a_offsets) - 1
    a_len, b_len = np.diff(a_offsets), np.diff(b_offsets)
    pair = np.concatenate([np.repeat(np.arange(n), a_len), np.repeat(np.arange(n), b_len)])
    vals = np.concatenate([a_values, b_values])
    order = np.lexsort((vals, pair))
    pair, vals = pair[order], vals[order]
    both = np.zeros(len(vals), dtype=bool)
    both[1:] = (pair[1:] == pair[:-1]) & (vals[1:] == vals[:-1])
    inter = np.bincount(pair[both], minlength=n)
    union = a_len + b_len - inter
    return np.where(union > 0, inter / np.maximum(union, 1), 0.0)


class JaccardVerifier:
    def __init__(self, workdir: Location, partitions: int, num_shards: int):
        self.workdir = location(workdir)
        self.partitions = partitions
        self.num_shards = num_shards
        self._writer: pq.ParquetWriter | None = None
        self._file: files.AtomicFile | None = None

    def _shingles_path(self, shard: int) -> Location:
        return self.workdir / "shingles" / f"s{shard:06d}.parquet"

    def add(self, keys: np.ndarray, windows: np.ndarray, offsets: np.ndarray, shard: int) -> None:
        values, offs = _unique_per_doc(windows, offsets)
        lists = pa.ListArray.from_arrays(pa.array(offs.astype(np.int32)), pa.array(values, pa.uint64()))
        table = pa.table({DOC_KEY: pa.array(keys, pa.int64()), "shingles": lists}, schema=SHINGLES_SCHEMA)
        if self._writer is None:
            self._file = files.AtomicFile(self._shingles_path(shard))
            self._writer = pq.ParquetWriter(self._file.handle, SHINGLES_SCHEMA, compression=COMPRESSION)
        self._writer.write_table(table)

    def commit(self, shard: int) -> None:
        path = self._shingles_path(shard)
        if self._writer is None or self._file is None:
            files.write_table(SHINGLES_SCHEMA.empty_table(), path, COMPRESSION)
            return
        self._writer.close()
        self._file.commit()

    def abort(self) -> None:
        """Drop a shard's unfinished shingle file (the stage failed)."""
        if self._writer is not None:
            self._writer.close()
        if self._file is not None:
            self._file.abort()
        self._writer = self._file = None

    def _owner(self, keys: np.ndarray) -> np.ndarray:
        return shard_partition(keys, self.num_shards, self.partitions)

    def send_candidates(self, sender: int, u: np.ndarray, v: np.ndarray) -> None:
        write_partitioned(self.workdir / "verify_in", sender, self._owner(u), {"u": u, "v": v}, self.partitions)

    def _load(self, p: int, wanted: np.ndarray) -> tuple[np.ndarray, pa.ListArray]:
        """(sorted doc keys, their shingle lists) for the wanted documents of partition p."""
        wanted = np.unique(wanted)
        tables = []
        for s in shards_of_partition(p, self.num_shards, self.partitions):
            path = self._shingles_path(s)
            if len(wanted) and path.exists():
                t = read_parquet(path)
                keys = t.column(DOC_KEY).to_numpy()
                tables.append(t.filter(pa.array(np.isin(keys, wanted))))
        if not tables:
            return np.zeros(0, np.int64), pa.array([], pa.list_(pa.uint64()))
        t = pa.concat_tables(tables).combine_chunks()
        keys = t.column(DOC_KEY).to_numpy()
        order = np.argsort(keys)
        return keys[order], t.column("shingles").chunk(0).take(pa.array(order)) if t.num_rows else t.column("shingles").chunk(0)

    def attach_anchor_shingles(self, p: int) -> None:
        pairs = read_partition(self.workdir / "verify_in", p, PAIR_SCHEMA)
        u = pairs.column("u").to_numpy()
        v = pairs.column("v").to_numpy()
        keys, lists = self._load(p, u)
        pos = np.searchsorted(keys, u)
        sh = lists.take(pa.array(pos)) if len(u) else pa.array([], pa.list_(pa.uint64()))
        table = pa.table({"u": u, "v": v, "shingles": sh}, schema=PAIR_SHINGLES_SCHEMA)
        dest = self._owner(v)
        order = np.argsort(dest, kind="stable")
        bounds = np.searchsorted(dest[order], np.arange(self.partitions + 1))
        for q in range(self.partitions):
            if bounds[q] == bounds[q + 1]:
                continue
            part = table.take(pa.array(order[bounds[q]:bounds[q + 1]]))
            files.write_table(part, self.workdir / "verify_mid" / f"p{q:05d}" / f"from{p:06d}.parquet", COMPRESSION)

    def verified_pairs(self, p: int, threshold: float) -> tuple[np.ndarray, np.ndarray, int]:
        t = read_partition(self.workdir / "verify_mid", p, PAIR_SHINGLES_SCHEMA).combine_chunks()
        u = t.column("u").to_numpy()
        v = t.column("v").to_numpy()
        if len(u) == 0:
            return u, v, 0
        a_lists = t.column("shingles").chunk(0)
        keys, lists = self._load(p, v)
        b_lists = lists.take(pa.array(np.searchsorted(keys, v)))
        a_off = np.asarray(a_lists.offsets, dtype=np.int64)
        b_off = np.asarray(b_lists.offsets, dtype=np.int64)
        sim = jaccard(a_lists.flatten().to_numpy(), a_off - a_off[0], b_lists.flatten().to_numpy(), b_off - b_off[0])
        ok = sim >= threshold
        return u[ok], v[ok], int((~ok).sum())
