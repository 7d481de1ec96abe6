"""Running a big file as several tasks, with the same output as one task.

Each piece of a file (pipeline/io/pieces.py) runs the segment as a shard task would, but writes
its output, rejected and quarantined rows under its own folder in `_work/` and leaves a piece
mark. Once every piece of a file is done, one join task streams the pieces' files, in piece
order, into the file's final files through the same writer (whose row groups depend on the rows
only), checks ids across pieces, and writes the file's completion mark with the summed counts:
the bytes, names and stats are those of a whole-file run, whatever the split or the workers.
"""

from __future__ import annotations

import io
import json
import shutil
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from operators.base import Operator
from pipeline.executors.base import Task
from pipeline.io.pieces import Piece, parquet_pieces, plan_pieces
from pipeline.io.readers import Shard, check_piece_ids
from pipeline.io.writers import ShardWriter
from pipeline.plan import Layout, Segment
from pipeline.recipe import Recipe
from pipeline.worker import naming_write_errors
from storage import files

PART_SUFFIX = ".arrow"
OUTPUT_PART = "out"  # a piece's kept rows; rejected/ and quarantine/ keep their output names
ID_HASHES = "_ids.npy"  # a piece's id hashes, for the duplicate check across pieces


class PartWriter(ShardWriter):
    """A piece's files: Arrow IPC (LZ4), cheap to write and to read back, since the join
    encodes the final Parquet once, as a whole-file task would."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.row_group_rows = None  # the join cuts the row groups

    def _final_name(self, part: int) -> Path:
        return self.folder / f"{self.name}{PART_SUFFIX}"

    def _open(self) -> None:
        assert self.schema is not None
        final = self._final_name(len(self._parts))
        part = files.AtomicFile(final)
        part.handle.close()
        options = pa.ipc.IpcWriteOptions(compression="lz4")
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
    def root(self) -> Path:
        assert self.piece is not None
        return pieces_dir(Layout(self.out), self.seg_index, self.shard, self.piece.split) / f"{self.piece.index:05d}"

    def segment_dir(self, seg: Segment) -> Path:
        return self.root / OUTPUT_PART if seg.index == self.seg_index else super().segment_dir(seg)

    def segment_done(self, seg: Segment, shard: str) -> Path:
        assert self.piece is not None
        return piece_mark(Layout(self.out), seg, shard, self.piece)

    def rejected_dir(self, step: int, op: Operator) -> Path:
        return self.root / super().rejected_dir(step, op).relative_to(self.out)

    @property
    def quarantine_dir(self) -> Path:
        return self.root / "quarantine"


def task_layout(layout: Layout, seg: Segment, shard: str, piece: Piece | None) -> Layout:
    return layout if piece is None else PieceLayout(layout.out, seg.index, shard, piece)


def progress_key(shard: str, piece: Piece | None) -> str:
    return shard if piece is None else f"{shard} [{piece.label}]"


def save_id_hashes(layout: Layout, hashes: list[np.ndarray]) -> None:
    assert isinstance(layout, PieceLayout)
    buffer = io.BytesIO()
    np.save(buffer, np.concatenate(hashes) if hashes else np.empty(0, np.uint64))
    files.write_bytes(layout.root / ID_HASHES, buffer.getvalue())


def pieces_dir(layout: Layout, seg_index: int, shard: str, split: int) -> Path:
    return layout.work / f"seg{seg_index}" / "_pieces" / shard / f"split{split}"


def piece_mark(layout: Layout, seg: Segment, shard: str, piece: Piece) -> Path:
    return pieces_dir(layout, seg.index, shard, piece.split) / "_done" / f"{piece.index:05d}.json"


def plan_segment(layout: Layout, recipe: Recipe, seg: Segment, shards: list[Shard]) -> dict[str, list[Piece] | None]:
    """Each file's pieces for this segment (None: one task): the input files for the first
    segment, the previous segment's shards (cut by their row groups) after it."""
    rows = recipe.input.rows_per_task
    plans: dict[str, list[Piece] | None] = {}
    for shard in shards:
        source = layout.segment_input(seg, shard.name)
        plans[shard.name] = (plan_pieces(shard, recipe.input, rows) if source is None
                             else parquet_pieces(str(source), rows) if rows and source.exists() else None)
        if plans[shard.name] is None:  # pieces left by a killed run cut otherwise: their text goes too
            shutil.rmtree(layout.work / f"seg{seg.index}" / "_pieces" / shard.name, ignore_errors=True)
    return plans


@dataclass
class JoinTask:
    recipe_json: str
    out: str
    segment: Segment
    shard: Shard
    pieces: list[Piece]


def join_tasks(recipe_json: str, layout: Layout, seg: Segment, shards: list[Shard],
               plans: dict[str, list[Piece] | None]) -> list[Task]:
    return [Task(join_pieces, JoinTask(recipe_json, str(layout.out), seg, s, pieces), f"joining the pieces of {s.path}")
            for s in shards if (pieces := plans[s.name])]


@naming_write_errors(lambda task: f"joining the pieces of {task.shard.path}")
def join_pieces(task: JoinTask) -> dict[str, Any]:
    """Stream the pieces' files into the file's final ones, then mark the file done."""
    started = time.perf_counter()
    recipe = Recipe.model_validate(json.loads(task.recipe_json))
    layout, seg, shard = Layout(Path(task.out)), task.segment, task.shard
    roots = [PieceLayout(layout.out, seg.index, shard.name, p).root for p in task.pieces]
    if seg.index == 0:
        hashes = [np.load(r / ID_HASHES) for r in roots if (r / ID_HASHES).exists()]
        check_piece_ids(shard, recipe.input, hashes)
    parts = sorted({f.relative_to(r) for r in roots for f in r.rglob(f"*{PART_SUFFIX}")})
    output_files: list[str] = []
    for part in parts:
        is_output = part.parts[0] == OUTPUT_PART
        folder = layout.segment_dir(seg) if is_output else layout.out / part.parent
        rows_per_file = recipe.output.rows_per_shard if is_output and seg.last else None
        writer = ShardWriter(folder, shard.name, recipe.output.compression, rows_per_file=rows_per_file,
                             row_group_rows=recipe.input.batch_size)
        names = _concatenate([r / part for r in roots], writer)
        if is_output:
            output_files = names
    marks = [json.loads(piece_mark(layout, seg, shard.name, p).read_text()) for p in task.pieces]
    stats = merge_piece_stats(marks, output_files, time.perf_counter() - started)
    files.write_json(layout.segment_done(seg, shard.name), stats)
    shutil.rmtree(pieces_dir(layout, seg.index, shard.name, task.pieces[0].split).parent, ignore_errors=True)
    return stats


def _concatenate(paths: list[Path], writer: ShardWriter) -> list[str]:
    """The rows of `paths` in order; with no rows at all, the last one's schema (as a whole-file
    task keeps the schema of its last batch read)."""
    empty_schema: pa.Schema | None = None
    try:
        for path in paths:
            if not path.exists():
                continue
            with pa.ipc.open_file(path) as source:
                empty_schema = source.schema
                for i in range(source.num_record_batches):
                    writer.write(pa.Table.from_batches([source.get_batch(i)]))
        return writer.commit(empty_schema=empty_schema)
    except BaseException:
        writer.abort()
        raise


def merge_piece_stats(marks: list[dict[str, Any]], output_files: list[str], join_seconds: float) -> dict[str, Any]:
    """One file's completion mark from its pieces' marks: counts summed, step by step."""
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
            "pieces": len(marks)}
