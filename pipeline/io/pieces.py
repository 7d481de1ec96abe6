"""Pieces: one input file cut into several tasks, so a big file uses every worker.

A Parquet file is cut between row groups, about `rows_per_task` rows a piece; an uncompressed
local JSONL file is cut on line boundaries every `rows_per_task` lines (one pass counting
newlines, which also gives each piece the line number it starts at). Compressed JSONL (a stream
without random access) and JSONL on object stores stay whole. A piece knows the file row of its
first record, so document keys, default ids and quarantined rows are the same as in a whole-file read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.io.shards import Shard

SCAN_BYTES = 16 << 20  # bytes read at a time while counting lines


@dataclass(frozen=True)
class Piece:
    index: int  # place in the file
    count: int  # pieces of the file
    split: int  # the rows_per_task it was planned with (names its work folder)
    first_row: int = 0  # file row of its first record (a JSONL line number minus one)
    row_groups: tuple[int, int] | None = None  # Parquet: row groups [first, end)
    byte_range: tuple[int, int] | None = None  # JSONL: lines starting in bytes [start, end)
    rows: int | None = None  # rows (JSONL: lines) it reads

    @property
    def label(self) -> str:
        return f"{self.index + 1}/{self.count}"


def is_parquet(shard: Shard, spec: Any) -> bool:
    return spec.format == "parquet" or (spec.format == "auto" and shard.format == "parquet")


def plan_pieces(shard: Shard, spec: Any, rows_per_task: int | None) -> list[Piece] | None:
    """The pieces of one input file, or None when it is read whole."""
    if not rows_per_task:
        return None
    if is_parquet(shard, spec):
        return parquet_pieces(shard.path, rows_per_task, spec.storage_options)
    if "://" in shard.path or shard.path.endswith((".gz", ".zst")):
        return None
    return jsonl_pieces(shard.path, rows_per_task)


def parquet_pieces(path: str, rows_per_task: int, storage_options: dict[str, Any] | None = None) -> list[Piece] | None:
    """Consecutive row groups, a new piece once one holds `rows_per_task` rows or more. An
    unreadable footer is left for the task reading the file to report."""
    import pyarrow.parquet as pq

    from storage.location import Location

    try:
        with Location(path, storage_options).reader() as source:  # a small file: one request on a store
            meta = pq.ParquetFile(source).metadata
    except (OSError, ValueError):
        return None
    groups = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    bounds = [0]
    rows = 0
    for i, n in enumerate(groups):
        rows += n
        if rows >= rows_per_task and i + 1 < len(groups):
            bounds.append(i + 1)
            rows = 0
    if len(bounds) == 1:
        return None
    bounds.append(len(groups))
    starts = np.concatenate([[0], np.cumsum(groups)]).astype(int).tolist()
    count = len(bounds) - 1
    return [Piece(p, count, rows_per_task, starts[a], (a, b), None, starts[b] - starts[a])
            for p, (a, b) in enumerate(zip(bounds, bounds[1:], strict=False))]


def jsonl_pieces(path: str, rows_per_task: int) -> list[Piece] | None:
    """Cut after every `rows_per_task`-th newline; a line is what `readline` returns, so blank
    lines count as they do in a whole-file read."""
    cuts = [0]  # byte offsets where a piece starts
    lines_before = 0  # newlines before the current chunk
    size = 0
    last = b"\n"
    with open(path, "rb") as f:
        while chunk := f.read(SCAN_BYTES):
            last = chunk[-1:]
            n = chunk.count(b"\n")
            next_cut_line = len(cuts) * rows_per_task  # newlines that end the next piece
            if lines_before + n >= next_cut_line:
                ends = np.flatnonzero(np.frombuffer(chunk, np.uint8) == 10)
                while lines_before + len(ends) >= next_cut_line:
                    cuts.append(size + int(ends[next_cut_line - lines_before - 1]) + 1)
                    next_cut_line += rows_per_task
            lines_before += n
            size += len(chunk)
    if cuts[-1] >= size:  # the file ends exactly at a cut
        cuts.pop()
    if len(cuts) == 1:
        return None
    bounds = cuts + [size]
    count = len(cuts)
    lines = lines_before + (last != b"\n")  # a last line without newline is a line too
    return [Piece(p, count, rows_per_task, p * rows_per_task, None, (bounds[p], bounds[p + 1]),
                  min(rows_per_task, lines - p * rows_per_task)) for p in range(count)]
