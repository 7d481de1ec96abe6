"""Running a big file as several tasks, with the same output as one task.

Each piece of a file (pipeline/io/pieces.py) runs the segment as a shard task would, but writes
its output, rejected and quarantined rows under its own folder in `_work/` and leaves a piece
mark. Meanwhile a driver thread streams the pieces' files, in piece order as they are done,
into the file's final files through the same writer (whose row groups depend on the rows only);
once all are in, it checks ids across pieces, commits, and writes the file's completion mark with
the summed counts: the bytes, names and stats are those of a whole-file run, whatever the split,
the workers or the executor.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from operators.base import Operator
from operators.workfiles import load_npy, save_npy
from pipeline.io.pieces import FilePlan, Piece, parquet_row_groups, plan_file, row_group_pieces
from pipeline.io.readers import Shard, check_piece_ids
from pipeline.io.writers import ShardWriter
from pipeline.plan import Layout, Segment
from pipeline.recipe import Recipe
from pipeline.task_metrics import TaskMeter
from storage import files
from storage.location import Location

PART_SUFFIX = ".arrow"
OUTPUT_PART = "out"  # a piece's kept rows; rejected/ and quarantine/ keep their output names
ID_HASHES = "_ids.npy"  # a piece's id hashes, for the duplicate check across pieces


class PartWriter(ShardWriter):
    """A piece's files: Arrow IPC, cheap to write and to read back, since the join encodes the
    final Parquet once, as a whole-file task would. Uncompressed on a local disk (LZ4 costs as
    much CPU as the Parquet encoding itself); LZ4 on an object store, where bytes are transfers."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.row_group_rows = None  # the join cuts the row groups

    def _final_name(self, part: int) -> Location:
        return self.folder / f"{self.name}{PART_SUFFIX}"

    def _open(self) -> None:
        assert self.schema is not None
        final = self._final_name(len(self._parts))
        part = files.AtomicFile(final)
        part.handle.close()
        options = pa.ipc.IpcWriteOptions(compression="lz4" if final.is_remote else None)
        self._writer = pa.ipc.new_file(str(part.temp_path), self.schema, options=options)  # type: ignore[assignment]
        self._parts.append((part, final))
        self._rows_in_file = 0


@dataclass
class PieceLayout(Layout):
    """Where one piece writes: the output folder's layout moved under the piece's folder for
    what it writes; the run's work, artifacts and earlier segments stay where they are."""

    seg_index: int = 0
    shard: str = ""
    piece: Piece | None = None

    @property
    def root(self) -> Location:
        assert self.piece is not None
        return pieces_dir(Layout(self.out), self.seg_index, self.shard, self.piece.split) / f"{self.piece.index:05d}"

    def segment_dir(self, seg: Segment) -> Location:
        return self.root / OUTPUT_PART if seg.index == self.seg_index else super().segment_dir(seg)

    def segment_done(self, seg: Segment, shard: str) -> Location:
        assert self.piece is not None
        return piece_mark(Layout(self.out), seg, shard, self.piece)

    def rejected_dir(self, step: int, op: Operator) -> Location:
        return self.root / super().rejected_dir(step, op).relative_to(self.out)

    @property
    def quarantine_dir(self) -> Location:
        return self.root / "quarantine"


def task_layout(layout: Layout, seg: Segment, shard: str, piece: Piece | None) -> Layout:
    return layout if piece is None else PieceLayout(layout.out, seg.index, shard, piece)


def progress_key(shard: str, piece: Piece | None) -> str:
    return shard if piece is None else f"{shard} [{piece.label}]"


def save_id_hashes(layout: Layout, hashes: list[np.ndarray]) -> None:
    assert isinstance(layout, PieceLayout)
    save_npy(layout.root / ID_HASHES, np.concatenate(hashes) if hashes else np.empty(0, np.uint64))


def pieces_dir(layout: Layout, seg_index: int, shard: str, split: int) -> Location:
    return layout.work / f"seg{seg_index}" / "_pieces" / shard / f"split{split}"


def piece_mark(layout: Layout, seg: Segment, shard: str, piece: Piece) -> Location:
    return pieces_dir(layout, seg.index, shard, piece.split) / "_done" / f"{piece.index:05d}.json"


PLAN_THREADS = 16  # files planned at once when each costs a request to a store (a footer, a size)


def plan_segment(layout: Layout, recipe: Recipe, seg: Segment, shards: list[Shard]) -> dict[str, FilePlan]:
    """Each file's plan for this segment: its pieces (None: one task) and rows, of the input
    files for the first segment, of the previous segment's shards (cut by their row groups) after it."""
    rows = recipe.input.rows_per_task

    def plan(shard: Shard) -> FilePlan:
        source = layout.segment_input(seg, shard.name)
        if source is None:
            return plan_file(shard, recipe.input, rows)
        groups = parquet_row_groups(source.url, source.options) if rows else None  # unreadable: None
        return FilePlan(None if groups is None else row_group_pieces(groups, rows or 0),
                        None if groups is None else sum(groups))

    remote = layout.out.is_remote if seg.index else any("://" in s.path for s in shards)
    if rows and remote and len(shards) > 1:
        with ThreadPoolExecutor(PLAN_THREADS, thread_name_prefix="plan") as pool:
            found = list(pool.map(plan, shards))
    else:
        found = [plan(s) for s in shards]
    return {s.name: p for s, p in zip(shards, found, strict=True)}


def drop_stale_pieces(layout: Layout, seg: Segment, plans: dict[str, FilePlan]) -> None:
    """Delete the pieces a killed run cut of files now read whole (their text goes too), once
    every planner has spoken (pipeline/line_pieces.py cuts remote JSONL after `plan_segment`)."""
    pieces_root = layout.work / f"seg{seg.index}" / "_pieces"
    for name in pieces_root.list_names():  # one listing, not a request per file
        if name in plans and plans[name].pieces is None:
            (pieces_root / name).delete()


class FileJoin:
    """Joins one file's pieces in the driver while the tasks run: each piece's files are appended,
    in piece order, to the file's final writers as soon as that piece and all before it are done,
    so the Parquet encoding overlaps the pieces' work instead of following it."""

    def __init__(self, recipe: Recipe, layout: Layout, seg: Segment, shard: Shard, pieces: list[Piece]):
        self.recipe, self.layout, self.seg, self.shard, self.pieces = recipe, layout, seg, shard, pieces
        self.roots = [PieceLayout(layout.out, seg.index, shard.name, p).root for p in pieces]
        self.writers: dict[str, ShardWriter] = {}  # by the part's path under its piece's folder
        self.schemas: dict[str, pa.Schema] = {}  # the last schema seen per file, for an empty one
        self.joined = 0
        self.seconds = 0.0

    def add_ready(self) -> None:
        """Append every piece that is done and whose predecessors are joined."""
        while self.joined < len(self.pieces) and piece_mark(self.layout, self.seg, self.shard.name,
                                                             self.pieces[self.joined]).exists():
            started = time.perf_counter()
            root = self.roots[self.joined]
            for part in root.walk():
                if part.endswith(PART_SUFFIX):
                    self._append(part, root / part)
            self.joined += 1
            self.seconds += time.perf_counter() - started

    def _append(self, part: str, path: Location) -> None:
        writer = self.writers.get(part)
        if writer is None:
            is_output = part.split("/")[0] == OUTPUT_PART
            folder = self.layout.segment_dir(self.seg) if is_output else self.layout.out / part.rsplit("/", 1)[0]
            rows_per_file = self.recipe.output.rows_per_shard if is_output and self.seg.last else None
            writer = self.writers[part] = ShardWriter(folder, self.shard.name, self.recipe.output.compression,
                                                      rows_per_file=rows_per_file,
                                                      row_group_rows=self.recipe.input.batch_size)
        with path.reader() as where, _ipc_source(where) as source:
            self.schemas[part] = source.schema
            for i in range(source.num_record_batches):
                writer.write(pa.Table.from_batches([source.get_batch(i)]))

    def finish(self, meter: TaskMeter | None = None) -> dict[str, Any]:
        """Join what is left, check ids across pieces, commit the files and mark the file done.
        `meter`: what the join itself costs, when it runs as a task of its own (not a driver thread)."""
        self.add_ready()
        assert self.joined == len(self.pieces), f"{self.shard.path}: pieces not done"
        started = time.perf_counter()
        if self.seg.index == 0:
            hashes = [load_npy(r / ID_HASHES) for r in self.roots if (r / ID_HASHES).exists()]
            check_piece_ids(self.shard, self.recipe.input, hashes)
        output_files: list[str] = []
        for part, writer in sorted(self.writers.items()):
            names = writer.commit(empty_schema=self.schemas[part])
            if part.split("/")[0] == OUTPUT_PART:
                output_files = names
        marks = [piece_mark(self.layout, self.seg, self.shard.name, p).read_json() for p in self.pieces]
        stats = merge_piece_stats(marks, output_files, self.seconds + time.perf_counter() - started,
                                  meter.read() if meter is not None else None)
        files.write_json(self.layout.segment_done(self.seg, self.shard.name), stats)
        pieces_dir(self.layout, self.seg.index, self.shard.name, self.pieces[0].split).parent.delete()
        return stats

    def abort(self) -> None:
        for writer in self.writers.values():
            writer.abort()


def _ipc_source(where: Any) -> Any:
    """An IPC file's reader; a local one memory-mapped, so that its batches are not copied."""
    return pa.ipc.open_file(pa.memory_map(where) if isinstance(where, str) else where)


@dataclass
class JoinTask:
    """Joining one file's pieces as a task (on a cluster, where the driver touches no data)."""

    recipe_json: str
    out: str
    segment: Segment
    shard: Shard
    pieces: list[Piece]


def run_join_task(task: JoinTask) -> dict[str, Any]:
    from pipeline.plan import output_location

    meter = TaskMeter()
    recipe = Recipe.model_validate(json.loads(task.recipe_json))
    layout = Layout(output_location(task.out, recipe.storage_options))
    done = layout.segment_done(task.segment, task.shard.name).read_mark()
    if done is not None:  # a retry of a join that finished, its worker lost before it returned
        pieces_dir(layout, task.segment.index, task.shard.name, task.pieces[0].split).parent.delete()
        return done
    join = FileJoin(recipe, layout, task.segment, task.shard, task.pieces)
    try:
        return join.finish(meter)
    except BaseException:
        join.abort()
        raise


@contextlib.contextmanager
def joining_while_running(joins: list[FileJoin], poll_seconds: float = 0.2) -> Iterator[None]:
    """Join finished pieces in a driver thread while the block runs the tasks; then finish every
    file. An error of the thread is raised after the block."""
    if not joins:
        yield
        return
    stop = threading.Event()
    errors: list[BaseException] = []

    def pump() -> None:
        try:
            while not stop.wait(poll_seconds):
                for join in joins:
                    join.add_ready()
        except BaseException as exc:  # raised in the driver below, never lost
            errors.append(exc)

    thread = threading.Thread(target=pump, name="join-pieces", daemon=True)
    thread.start()
    try:
        yield
    except BaseException:
        stop.set()
        thread.join()
        for join in joins:
            join.abort()
        raise
    stop.set()
    thread.join()
    try:
        if errors:
            raise errors[0]
        for join in joins:
            join.finish()
    except BaseException:
        for join in joins:
            join.abort()
        raise


def merge_piece_stats(marks: list[dict[str, Any]], output_files: list[str], join_seconds: float,
                      join_resources: dict[str, Any] | None = None) -> dict[str, Any]:
    """One file's completion mark from its pieces' marks: counts summed, step by step, and what
    the pieces (and a join task) cost, as one task's `resources`."""
    steps: dict[str, dict[str, Any]] = {}
    for mark in marks:
        for k, counts in mark["steps"].items():
            total = steps.setdefault(k, {})
            for name, value in counts.items():
                if isinstance(value, dict):  # removed by reason, metrics
                    into = total.setdefault(name, {})
                    for key, n in value.items():
                        into[key] = into.get(key, 0) + n
                else:
                    total[name] = total.get(name, 0) + value
    quarantined: Counter = Counter()
    for mark in marks:
        quarantined.update(mark["quarantined"])
    first = marks[0]
    return {"shard": first["shard"], "path": first["path"], "segment": first["segment"],
            "documents_in": sum(m["documents_in"] for m in marks),
            "documents_out": sum(m["documents_out"] for m in marks),
            "quarantined": dict(quarantined), "files": output_files,
            "seconds": sum(m["seconds"] for m in marks) + join_seconds, "steps": steps,
            "resources": merge_resources([m["resources"] for m in marks if m.get("resources")]
                                         + ([join_resources] if join_resources else [])),
            "pieces": len(marks)}


def merge_resources(parts: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Several tasks' costs as one (pipeline/task_metrics.py): CPU seconds and bytes summed, the
    largest peak RSS, and a start RSS that keeps the largest growth of one of them (peak - start),
    which is what the run's task summary reports per task."""
    if not parts:
        return None
    peak = max(p["peak_rss_bytes"] for p in parts)
    growth = max(p["peak_rss_bytes"] - p.get("start_rss_bytes", p["peak_rss_bytes"]) for p in parts)
    return {"cpu_seconds": round(sum(p["cpu_seconds"] for p in parts), 4), "peak_rss_bytes": peak,
            "peak_rss_per_task": all(p.get("peak_rss_per_task", False) for p in parts),
            "start_rss_bytes": peak - growth, "read_bytes": sum(p["read_bytes"] for p in parts),
            "write_bytes": sum(p["write_bytes"] for p in parts)}
