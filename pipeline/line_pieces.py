"""Big uncompressed JSONL files on an object store as several tasks: their lines are counted by
tasks, one per byte range (pipeline/io/line_count.py), run by the backend like any other, so the
driver reads 1 MiB of each file and the counts, never the file. The counts are kept in the file's
pieces folder, so a resumed run does not count again."""

from __future__ import annotations

from pipeline.executors.base import Backend, Task
from pipeline.io.line_count import (
    MIN_RANGE_BYTES,
    SAMPLE_BYTES,
    LineCount,
    count_line_starts,
    counting_tasks,
    pieces_from_counts,
)
from pipeline.io.pieces import Cut, FilePlan, cut_of
from pipeline.io.readers import Shard
from pipeline.pieces import pieces_dir
from pipeline.plan import Layout, Segment
from pipeline.recipe import Recipe
from storage import files
from storage.location import Location

COUNTS = "lines.json"


def plan_remote_jsonl(layout: Layout, recipe: Recipe, seg: Segment, shards: list[Shard],
                      backend: Backend) -> dict[str, FilePlan]:
    """Plans replacing `plan_segment`'s for the first segment's big remote JSONL files among
    `shards` (the others keep theirs: one task, rows estimated from the size)."""
    rows = recipe.input.rows_per_task
    if seg.index != 0 or not rows:
        return {}
    # the task runs where no recipe set fsspec's defaults: it carries the options (the input's win)
    options = {**(recipe.storage_options or {}), **(recipe.input.storage_options or {})} or None
    plans: dict[str, FilePlan] = {}
    pending: list[tuple[Shard, list[LineCount], Location]] = []
    for shard in shards:
        if cut_of(shard, recipe.input) is not Cut.LINES_BY_TASKS:
            continue
        size = shard.size  # from the listing
        if size is None or size < 2 * MIN_RANGE_BYTES:  # one range at most: nothing to count
            continue
        try:
            sample = files.read_prefix(Location(shard.path, options), SAMPLE_BYTES)
        except OSError:  # the task reading the file reports it, naming it
            continue
        tasks = counting_tasks(shard.path, options, size, sample, rows)
        if len(tasks) == 1:  # lines long enough that the file is one task's worth
            continue
        cache = pieces_dir(layout, seg.index, shard.name, rows) / COUNTS
        kept = cache.read_mark()
        if kept and kept.get("size") == size and kept.get("ranges") == [[t.start, t.end] for t in tasks]:
            plans[shard.name] = _plan(tasks, kept["starts"], rows)
        else:
            pending.append((shard, tasks, cache))
    if pending:
        counts = backend.map([Task(count_line_starts, t, f"counting lines of {t.path} bytes {t.start}-{t.end}")
                              for _, tasks, _ in pending for t in tasks], label="counting JSONL lines")
        at = 0
        for shard, tasks, cache in pending:
            starts = [int(c["starts"]) for c in counts[at:at + len(tasks)]]
            at += len(tasks)
            cache.write_json({"size": tasks[0].size, "ranges": [[t.start, t.end] for t in tasks], "starts": starts})
            plans[shard.name] = _plan(tasks, starts, rows)
    return plans


def _plan(tasks: list[LineCount], starts: list[int], rows: int) -> FilePlan:
    return FilePlan(pieces_from_counts(tasks, starts, rows), sum(starts))
