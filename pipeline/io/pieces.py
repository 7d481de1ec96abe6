"""Pieces: one input file cut into several tasks, so a big file uses every worker.

A Parquet file is cut between row groups, about `rows_per_task` rows a piece; an uncompressed
local JSONL file is cut on line boundaries every `rows_per_task` lines (one pass counting
newlines, which also gives each piece the line number it starts at); one on an object store by
byte ranges whose lines are counted by tasks (pipeline/line_pieces.py). Compressed JSONL (a stream
without random access) stays whole. A piece knows the file row of its first record, so document
keys, default ids and quarantined rows are the same as in a whole-file read.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
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


class Cut(Enum):
    """How an input file is cut into pieces: the one place that decides it."""

    ROW_GROUPS = "row groups"  # Parquet, from the footer
    LINES = "lines"  # local uncompressed JSONL: its lines counted here, in one pass
    LINES_BY_TASKS = "lines by tasks"  # uncompressed JSONL on a store: pipeline/line_pieces.py
    WHOLE = "whole"  # compressed JSONL: a stream without random access


def cut_of(shard: Shard, spec: Any) -> Cut:
    if is_parquet(shard, spec):
        return Cut.ROW_GROUPS
    if shard.path.endswith((".gz", ".zst")):
        return Cut.WHOLE
    return Cut.LINES_BY_TASKS if "://" in shard.path else Cut.LINES


UNCOUNTED_BYTES_PER_ROW = 200  # a JSONL file whose lines are not counted: its size over this, as rows


@dataclass(frozen=True)
class FilePlan:
    """How one file is read: its pieces (None: one task reads it whole) and its rows, which decide
    whether it is small enough to share a task with its neighbours (pipeline/groups.py): Parquet
    rows from the footer, JSONL lines as counted, or for compressed and remote JSONL (never
    scanned) the size over UNCOUNTED_BYTES_PER_ROW, an overestimate for text (a few KB a
    document, about 1 KB compressed); None when unknown (an unreadable file: its task reports it)."""

    pieces: list[Piece] | None
    rows: int | None


def plan_file(shard: Shard, spec: Any, rows_per_task: int | None) -> FilePlan:
    """A file cut `Cut.LINES_BY_TASKS` is planned whole here; pipeline/line_pieces.py replaces
    the plan of a big one once tasks have counted its lines."""
    if not rows_per_task:
        return FilePlan(None, None)
    cut = cut_of(shard, spec)
    if cut is Cut.ROW_GROUPS:
        groups = parquet_row_groups(shard.path, spec.storage_options)
        return FilePlan(None if groups is None else row_group_pieces(groups, rows_per_task),
                        None if groups is None else sum(groups))
    if cut is Cut.LINES:
        pieces, lines = _scan_jsonl(shard.path, rows_per_task)
        return FilePlan(pieces, lines)
    size = shard.size if shard.size is not None else _size(shard.path, spec.storage_options)
    return FilePlan(None, None if size is None else -(-size // UNCOUNTED_BYTES_PER_ROW))


def plan_pieces(shard: Shard, spec: Any, rows_per_task: int | None) -> list[Piece] | None:
    """The pieces of one input file, or None when it is read whole."""
    return plan_file(shard, spec, rows_per_task).pieces


def _size(path: str, storage_options: dict[str, Any] | None) -> int | None:
    """A file's bytes when its listing did not say (a request)."""
    import fsspec

    try:
        fs, inner = fsspec.core.url_to_fs(path, **(storage_options or {}))
        size = fs.size(inner)
    except (OSError, ValueError):  # the task reading the file reports it
        return None
    return None if size is None else int(size)


def parquet_row_groups(path: str, storage_options: dict[str, Any] | None = None) -> list[int] | None:
    """Rows of each row group, from the footer; None for an unreadable footer (left for the task
    reading the file to report)."""
    import pyarrow.parquet as pq

    from storage.location import Location

    try:
        with Location(path, storage_options).reader() as source:  # a small file: one request on a store
            meta = pq.ParquetFile(source).metadata
    except (OSError, ValueError):
        return None
    return [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]


def parquet_pieces(path: str, rows_per_task: int, storage_options: dict[str, Any] | None = None) -> list[Piece] | None:
    groups = parquet_row_groups(path, storage_options)
    return None if groups is None else row_group_pieces(groups, rows_per_task)


def row_group_pieces(groups: list[int], rows_per_task: int) -> list[Piece] | None:
    """Consecutive row groups, a new piece once one holds `rows_per_task` rows or more."""
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
    return _scan_jsonl(path, rows_per_task)[0]


def _scan_jsonl(path: str, rows_per_task: int) -> tuple[list[Piece] | None, int]:
    """The file's pieces (None: one) and its lines, in one pass."""
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
    lines = lines_before + (last != b"\n")  # a last line without newline is a line too
    if cuts[-1] >= size:  # the file ends exactly at a cut
        cuts.pop()
    if len(cuts) <= 1:
        return None, lines
    bounds = cuts + [size]
    count = len(cuts)
    return [Piece(p, count, rows_per_task, p * rows_per_task, None, (bounds[p], bounds[p + 1]),
                  min(rows_per_task, lines - p * rows_per_task)) for p in range(count)], lines
