"""The shard task: one segment of the recipe over one shard, streamed in record batches.

It writes the kept rows (the final output, or an intermediate shard before a global step), the
removed rows under rejected/ with operator and reason, bad records under quarantine/, and last a
completion mark holding the shard's accounting. Nothing is visible under a final name before the
mark's data is complete, so a killed task simply runs again.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from operators.base import DOC_KEY, ID, SHARD_BITS, TEXT, GlobalOperator, Operator
from pipeline.errors import AccountingError, StepError
from pipeline.executors.base import report_progress
from pipeline.io.readers import InputError, Quarantined, Shard, read_shard
from pipeline.io.writers import ShardWriter, with_rejection
from pipeline.pieces import PartWriter, Piece, progress_key, save_id_hashes, task_layout
from pipeline.plan import Layout, Segment, output_location
from pipeline.recipe import Recipe
from pipeline.shard_list import ShardListRef, load_shard_names
from pipeline.stage_worker import stage_context
from pipeline.task_metrics import TaskMeter
from pipeline.worker import naming_write_errors, read_intermediate, setup_step, worker_steps
from storage import files
from storage.columns import INTERNAL_COLUMNS


@dataclass
class ShardTask:
    recipe_json: str
    out: str
    segment: Segment
    shard: Shard
    shard_list: ShardListRef | None  # the run's shards, for global steps' contexts (None: no global step)
    piece: Piece | None = None  # one piece of the file (pipeline/pieces.py); None: the whole file
    executor_task: str | None = None  # the first task of the group it runs in (pipeline/groups.py); None: alone


@dataclass
class StepCounts:
    documents_in: int = 0
    documents_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    chars_in: int = 0
    chars_out: int = 0
    seconds: float = 0.0
    removed: Counter = field(default_factory=Counter)
    metrics: Counter = field(default_factory=Counter)
    last_out: tuple[int, int] = (0, 0)  # bytes and characters of the last batch kept

    def as_stats(self) -> dict[str, Any]:
        return {**{f: v for f, v in asdict(self).items() if f != "last_out"}, "removed": dict(self.removed),
                "metrics": dict(self.metrics)}


def text_size(table: pa.Table) -> tuple[int, int]:
    """UTF-8 bytes and characters of the text column."""
    if not table.num_rows:
        return 0, 0
    text = table.column(TEXT)
    n_bytes = pc.sum(pc.binary_length(text)).as_py() or 0
    n_chars = pc.sum(pc.utf8_length(text)).as_py() or 0
    return int(n_bytes), int(n_chars)


@naming_write_errors(lambda task: f"shard {task.shard.path}" + (f" piece {task.piece.label}" if task.piece else ""))
def run_shard_task(task: ShardTask) -> dict[str, Any]:
    """Run one segment over one shard; write output, rejected rows and the completion mark."""
    return ShardRun(task).run()


class ShardRun:
    """The state of one shard task: its operators, sinks and counts."""

    def __init__(self, task: ShardTask):
        self.task = task
        self.started = time.perf_counter()
        self.meter = TaskMeter()
        self.recipe = Recipe.model_validate(json.loads(task.recipe_json))
        self.ops = worker_steps(task.recipe_json)
        self.seg = task.segment
        self.layout = task_layout(Layout(output_location(task.out, self.recipe.storage_options)), self.seg,
                                  task.shard.name, task.piece)
        self.progress_key = progress_key(task.shard.name, task.piece)
        self.id_hashes: list[np.ndarray] | None = [] if task.piece and self.seg.index == 0 else None
        self.sink = PartWriter if task.piece else ShardWriter  # a piece's files are joined later
        self.seg_ops = list(range(self.seg.first, self.seg.end))
        self.counts = {k: StepCounts() for k in self.seg_ops}
        self.quarantined: Counter = Counter()
        self.q_rows: list[dict[str, Any]] = []
        self.rejected: dict[int, ShardWriter] = {}
        self.read_docs = 0
        # documents removed before a PII-scrubbing step are scrubbed by it before reaching a sink
        self.redactor_after = {k: next((self.ops[j] for j in range(k + 1, len(self.ops)) if self.ops[j].redacts_sinks),
                                       None) for k in range(-1, len(self.ops))}
        self.writer = self._output_writer()

    def _output_writer(self) -> ShardWriter:
        out_cfg, seg = self.recipe.output, self.seg
        rename = {}
        if seg.last:
            rename = {TEXT: self.recipe.input.text_column, ID: self.recipe.input.id_column or ID}
            rename = {k: v for k, v in rename.items() if k != v}
        return self.sink(self.layout.segment_dir(seg), self.task.shard.name, out_cfg.compression,
                         rows_per_file=out_cfg.rows_per_shard if seg.last and not self.task.piece else None,
                         rename=rename, drop=INTERNAL_COLUMNS if seg.last else (),
                         row_group_rows=self.recipe.input.batch_size)

    def _quarantine(self, rec: Quarantined) -> None:
        self.quarantined[rec.reason.split(" ")[0]] += 1
        self.q_rows.append(asdict(rec))

    def _setup(self, op: Operator, k: int) -> None:
        setup_step(op, k, self.layout.artifacts)

    def _source(self) -> Iterator[pa.Table]:
        if self.seg.index == 0:
            quarantine = self._quarantine if self.recipe.output.quarantine else None
            yield from read_shard(self.task.shard, self.recipe.input, quarantine, self.task.piece, self.id_hashes)
            return
        path = self.layout.segment_input(self.seg, self.task.shard.name)
        assert path is not None
        groups = self.task.piece.row_groups if self.task.piece else None
        yield from read_intermediate(path, self.recipe.input.batch_size, row_groups=groups)

    def run(self) -> dict[str, Any]:
        for k in self.seg_ops:
            op = self.ops[k]
            if isinstance(op, GlobalOperator):
                assert self.task.shard_list is not None
                names = load_shard_names(self.task.shard_list, self.layout)
                op.bind(stage_context(self.layout, k, op, names))
            self._setup(op, k)
        source_schema: pa.Schema | None = None
        try:
            for table in self._source():
                source_schema = table.schema
                self.read_docs += table.num_rows
                kept = self._through_steps(table)
                if kept.num_rows:
                    self.writer.write(kept)
                report_progress(self.progress_key, self.read_docs)
            for k in self.seg_ops:
                self.counts[k].metrics.update(self.ops[k].pop_metrics())
            written = self.writer.rows
            with files.batched_uploads():  # on a store, the task's files go up together; the mark after
                output_files = self.writer.commit(empty_schema=source_schema)
                for w in self.rejected.values():
                    w.commit()
                self._write_quarantine()
        except BaseException:
            self.writer.abort()
            for w in self.rejected.values():
                w.abort()
            raise
        return self._finish(written, output_files)

    def _through_steps(self, table: pa.Table) -> pa.Table:
        """One batch through the segment's steps; removed rows go to their sinks."""
        for k in self.seg_ops:
            if table.num_rows == 0:
                break
            op, c = self.ops[k], self.counts[k]
            c.documents_in += table.num_rows
            b, ch = text_size(table) if k == self.seg.first else self.counts[k - 1].last_out
            c.bytes_in += b
            c.chars_in += ch
            t0 = time.perf_counter()
            kept, removed, reasons = self._apply(op, k, table)
            c.seconds += time.perf_counter() - t0
            if removed.num_rows:
                for reason, n in Counter(reasons.to_pylist()).items():
                    c.removed[reason] += n
                if self.recipe.output.rejected:
                    self._write_rejected(k, op, removed, reasons)
            c.documents_out += kept.num_rows
            c.last_out = text_size(kept)
            c.bytes_out += c.last_out[0]
            c.chars_out += c.last_out[1]
            table = kept
        return table

    def _apply(self, op: Operator, k: int, table: pa.Table) -> tuple[pa.Table, pa.Table, pa.Array]:
        try:
            return op.apply(table).split()
        except InputError:
            raise
        except Exception as exc:
            first = int(table.column(DOC_KEY)[0].as_py()) & ((1 << SHARD_BITS) - 1)
            raise StepError(
                f"step {k} ({op.name}) failed on shard {self.task.shard.path} rows {first}..{first + table.num_rows - 1}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc

    def _write_rejected(self, k: int, op: Operator, removed: pa.Table, reasons: pa.Array) -> None:
        redactor = self.redactor_after[k]
        if redactor is not None:
            self._setup(redactor, self.ops.index(redactor))
            removed = redactor.redact(removed)
        w = self.rejected.get(k)
        if w is None:
            w = self.rejected[k] = self.sink(self.layout.rejected_dir(k, op), self.task.shard.name,
                                             self.recipe.output.compression, drop=INTERNAL_COLUMNS,
                                             row_group_rows=self.recipe.input.batch_size)
        w.write(with_rejection(removed, op.name, reasons))

    def _write_quarantine(self) -> None:
        if not self.q_rows:
            return
        q_table = pa.Table.from_pylist(self.q_rows)
        redactor = self.redactor_after[-1]
        if redactor is not None:
            self._setup(redactor, self.ops.index(redactor))
            raw = redactor.redact(pa.table({TEXT: q_table.column("raw")})).column(TEXT)
            q_table = q_table.set_column(q_table.schema.get_field_index("raw"), "raw", raw)
        qw = self.sink(self.layout.quarantine_dir, self.task.shard.name, self.recipe.output.compression,
                       row_group_rows=self.recipe.input.batch_size)
        qw.write(q_table)
        qw.commit()

    def _finish(self, written: int, output_files: list[str]) -> dict[str, Any]:
        removed_total = sum(sum(c.removed.values()) for c in self.counts.values())
        if self.read_docs != written + removed_total:  # quarantined records never reach the steps
            raise AccountingError(
                f"shard {self.task.shard.name} segment {self.seg.index}: {self.read_docs} documents read, "
                f"{written} kept, {removed_total} removed"
            )
        stats = {
            "shard": self.task.shard.name,
            "path": self.task.shard.path,
            "segment": self.seg.index,
            "documents_in": self.read_docs + sum(self.quarantined.values()),
            "documents_out": written,
            "quarantined": dict(self.quarantined),
            "files": output_files,
            "seconds": time.perf_counter() - self.started,
            "steps": {str(k): c.as_stats() for k, c in self.counts.items()},
            "resources": self.meter.read(),
        }
        if self.task.executor_task is not None:
            stats["executor_task"] = self.task.executor_task
        if self.id_hashes is not None:
            save_id_hashes(self.layout, self.id_hashes)
        files.write_json(self.layout.segment_done(self.seg, self.task.shard.name), stats)
        return {**stats, "progress_documents": self.read_docs}
