"""Pieces of a JSONL file on an object store, planned without the driver reading it.

The file is cut into byte ranges of about `rows_per_task` lines (the line length estimated from
its first MiB); a task per range counts the lines that start in it (a line belongs to the range
it starts in, as `pipeline.io.jsonl.jsonl_lines` reads a range), and the running sums give each
piece the file row of its first line. So document keys, default ids and quarantined row numbers
are those of a whole-file read, and the bytes cross the network once per counting task, in
parallel, not through the driver. (A local file is cut at exact line counts by one scan instead:
`pipeline.io.pieces`.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.io.pieces import Piece

SAMPLE_BYTES = 1 << 20  # read by the driver to estimate the bytes of a line
READ_BYTES = 8 << 20  # read at a time while counting
MIN_RANGE_BYTES = 1 << 20  # a range never smaller than this (a request costs more than its bytes)


@dataclass(frozen=True)
class LineCount:
    """Count the lines starting in bytes [start, end) of a file of `size` bytes."""

    path: str
    storage_options: dict[str, Any] | None
    start: int
    end: int
    size: int


def count_line_starts(task: LineCount) -> dict[str, Any]:
    """Line starts are byte 0 and every byte after a newline, except the end of the file."""
    import fsspec

    starts = 1 if task.start == 0 and task.size > 0 else 0
    lo = max(task.start - 1, 0)  # the newline just before `start` starts a line at `start`
    # a newline at end-1 starts a line at `end` (the next range's); one at size-1 starts no line
    hi = min(task.end, task.size) - 1
    with fsspec.open(task.path, "rb", **(task.storage_options or {})) as handle:
        handle.seek(lo)
        pos = lo
        while pos < hi:
            chunk = handle.read(min(READ_BYTES, hi - pos))
            if not chunk:
                raise OSError(f"{task.path}: file ended at byte {pos}, expected {task.size} bytes (changed while read?)")
            starts += chunk.count(b"\n")
            pos += len(chunk)
    return {"path": task.path, "start": task.start, "starts": starts}


def byte_ranges(size: int, sample: bytes, rows_per_task: int) -> list[tuple[int, int]]:
    """Equal byte ranges of about `rows_per_task` lines each, from the sample's bytes per line."""
    if size == 0:
        return [(0, 0)]
    lines = max(sample.count(b"\n"), 1)
    target = max(MIN_RANGE_BYTES, int(rows_per_task * len(sample) / lines))
    count = max(1, -(-size // target))
    bounds = [size * k // count for k in range(count + 1)]
    return list(zip(bounds, bounds[1:], strict=False))


def counting_tasks(path: str, storage_options: dict[str, Any] | None, size: int, sample: bytes,
                   rows_per_task: int) -> list[LineCount]:
    return [LineCount(path, storage_options, a, b, size) for a, b in byte_ranges(size, sample, rows_per_task)]


def pieces_from_counts(tasks: list[LineCount], starts: list[int], rows_per_task: int) -> list[Piece] | None:
    """The pieces (None: one task reads the file): ranges holding no line start (inside one very
    long line) join the range before, so every piece reads at least one line."""
    ranges: list[list[int]] = []  # [start, end, lines]
    for task, n in zip(tasks, starts, strict=True):
        if ranges and n == 0:
            ranges[-1][1] = task.end
        else:
            ranges.append([task.start, task.end, n])
    if len(ranges) <= 1:
        return None
    pieces, first = [], 0
    for i, (a, b, n) in enumerate(ranges):
        pieces.append(Piece(i, len(ranges), rows_per_task, first, None, (a, b), n))
        first += n
    return pieces
