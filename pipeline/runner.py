"""Drives a recipe: prepares the output folder, plans segments around global operators, runs
their shard tasks and declared stages through a backend (local processes or Ray), and merges the
accounting. The parts: `plan` (segments, folder layout), `shard_worker` and `stage_worker` (what
runs in a task), `executors` (where tasks run), `stats` (the merged accounting)."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from operators.base import GlobalOperator, Operator
from pipeline.errors import AccountingError, StepError, TaskFailed  # noqa: F401 - part of this module's API
from pipeline.executors.base import Backend, Task, TaskResources
from pipeline.groups import bundle, name_at_fault, plan_groups, unbundled
from pipeline.io.readers import Shard, list_shards
from pipeline.io.writers import atomic_write_json
from pipeline.line_pieces import plan_remote_jsonl
from pipeline.pieces import (
    FileJoin,
    JoinTask,
    drop_stale_pieces,
    joining_while_running,
    piece_mark,
    plan_segment,
    progress_key,
    run_join_task,
)
from pipeline.plan import Layout, Segment, plan_segments, segment_label
from pipeline.recipe import Recipe, storage_defaults
from pipeline.shard_list import ShardListRef, write_shard_list
from pipeline.shard_worker import ShardTask, run_shard_task
from pipeline.stage_worker import StageTask, run_stage_task, stage_context
from pipeline.stats import build_stats
from storage import files
from storage.location import Location


@dataclass
class RunResult:
    out: Path | Location  # a Path for a local folder (as before), a Location on an object store
    stats: dict[str, Any]

    @property
    def kept(self) -> int:
        return self.stats["output"]["documents"]


def run_recipe(recipe: Recipe, backend: Backend | None = None, fresh: bool = False, progress: bool = False) -> RunResult:
    """Run a validated recipe; resumes unfinished work in its output folder (which it locks)."""
    with storage_defaults(recipe):  # the recipe's storage_options reach every URL it names
        return _run(recipe, backend, fresh, progress)


def _run(recipe: Recipe, backend: Backend | None, fresh: bool, progress: bool) -> RunResult:
    from pipeline import output_folder as folder
    from pipeline.executors import make_backend

    started = time.time()
    shards = list_shards(recipe.input)
    steps = recipe.build_steps()
    segments = plan_segments(steps)
    layout, lock = folder.prepare_output(recipe, shards, fresh)
    try:
        folder.warn_about_kept_raw_text(recipe, steps, segments, layout.out)
        recipe_json = _recipe_for_workers(recipe)  # secrets in clear: in memory only, for the workers
        # once a run, for global steps: their tasks carry where the list is, not the list
        shard_list = write_shard_list(layout, shards) if any(isinstance(op, GlobalOperator) for op in steps) else None
        own_backend = backend is None
        backend = backend or make_backend(recipe.executor, progress=progress)
        written: dict[str, Any] = {}  # marks this run's tasks wrote, as they returned them (by URL)
        try:
            for seg in segments:
                done = layout.done_names(layout.segment_marks(seg))
                todo = [s for s in shards if s.name not in done]
                plans = plan_segment(layout, recipe, seg, todo)  # a big file is several tasks
                plans.update(plan_remote_jsonl(layout, recipe, seg, todo, backend))  # lines counted by tasks
                drop_stale_pieces(layout, seg, plans)
                group_of = plan_groups([s.name for s in todo], [None if plans[s.name].pieces else plans[s.name].rows
                                                                for s in todo], recipe.input.rows_per_task)
                if seg.first < seg.end and isinstance(steps[seg.first], GlobalOperator):
                    assert shard_list is not None
                    _run_stages(backend, recipe_json, layout, steps, seg, shards, shard_list,
                                {s.index: group_of.get(s.name) for s in todo}, written)
                tasks = []
                for s in todo:
                    pieces = plans[s.name].pieces
                    tasks += [_shard_task(ShardTask(recipe_json, str(layout.out), seg, s, shard_list, piece), steps, layout,
                                          plans[s.name].rows)
                              for piece in pieces or [None]
                              if piece is None or not piece_mark(layout, seg, s.name, piece).exists()]
                # small files share a task; each still writes its own files and mark
                single = tasks
                tasks = bundle(tasks, [None if t.arg.piece else group_of.get(t.arg.shard.name) for t in tasks])
                split = [(s, pieces) for s in todo if (pieces := plans[s.name].pieces)]
                shard_done = functools.partial(_shard_done, layout, seg)
                if backend.driver_reads_data:  # the driver joins each file's pieces while they run
                    if split and tasks:
                        backend.start()  # its workers first, then the joining thread
                    with joining_while_running([FileJoin(recipe, layout, seg, s, p) for s, p in split]):
                        results = _map(backend, tasks, segment_label(seg, steps), shard_done)
                else:
                    results = _map(backend, tasks, segment_label(seg, steps), shard_done)
                    joins = [Task(run_join_task, JoinTask(recipe_json, str(layout.out), seg, s, p), f"joining {s.path}")
                             for s, p in split]
                    backend.map(joins, label=f"{segment_label(seg, steps)}: joining pieces")
                written.update({layout.segment_done(seg, t.arg.shard.name).url: _mark(r)
                                for t, r in zip(single, results, strict=True) if t.arg.piece is None})
        finally:
            if own_backend:
                backend.close()
        folder.check_lock(lock)  # a run that lost its lease (store unreachable too long) must not publish
        stats = build_stats(recipe, layout, steps, segments, shards, wall_seconds=time.time() - started, written=written)
        atomic_write_json(layout.out / "stats.json", stats)
        if not recipe.output.keep_intermediate:
            folder.remove_work_data(layout, steps, segments)
    except folder.store_errors() as exc:
        if not folder.output_errors(exc):
            raise
        raise folder.write_error(exc, layout.out, "writing the run's results") from exc
    finally:
        lock.release()
    return RunResult(layout.out if layout.out.is_remote else layout.out.path, stats)


def _recipe_for_workers(recipe: Recipe) -> str:
    """The recipe every task carries. An `input.path` listing every file would grow each task with
    the files; tasks name their own files, so one path per URL scheme is kept (workers apply the
    recipe's storage options by scheme)."""
    paths = recipe.input.path
    if isinstance(paths, list):
        first_of_scheme: dict[str | None, str] = {}
        for path in paths:
            first_of_scheme.setdefault(files.split_protocol(path)[0], path)
        paths = list(first_of_scheme.values())
    return recipe.model_copy(update={"input": recipe.input.model_copy(update={"path": paths})}).model_dump_json()


def _resources(declared: list[tuple[str, Any]]) -> TaskResources:
    """The largest CPU and memory declaration among a task's operators or stage."""
    if not declared:  # a segment that only materializes its input
        return TaskResources()
    who_cpu, cpus = max(((n, r.cpus) for n, r in declared), key=lambda x: x[1])
    who_mem, mem = max(((n, r.memory_gb) for n, r in declared), key=lambda x: x[1])
    return TaskResources(cpus, mem, who_cpu if who_cpu == who_mem or not mem else f"{who_cpu}, {who_mem}")


def _shard_task(item: ShardTask, steps: list[Operator], layout: Layout, rows: int | None) -> Task:
    seg = item.segment
    declared = [(steps[k].name, steps[k].resources) for k in range(seg.first, seg.end)]
    if item.piece is not None:
        return Task(run_shard_task, item, f"shard {item.shard.path} piece {item.piece.label}", _resources(declared),
                    progress_key=progress_key(item.shard.name, item.piece), documents=item.piece.rows)
    return Task(run_shard_task, item, f"shard {item.shard.path}", _resources(declared),
                progress_key=item.shard.name, documents=_documents(layout, seg, item.shard, rows))


def _map(backend: Backend, tasks: list[Task], label: str, done: Callable[[Task], bool]) -> list[dict[str, Any]]:
    """Run bundled tasks; results one a task, as if none were grouped. A worker that died in a group
    is reported naming the task it was running."""
    try:
        return unbundled(tasks, backend.map(tasks, label=label))
    except TaskFailed as exc:
        raise TaskFailed(name_at_fault(str(exc), tasks, done)) from exc


def _shard_done(layout: Layout, seg: Segment, task: Task) -> bool:
    return layout.segment_done(seg, task.arg.shard.name).exists()


def _stage_done(layout: Layout, op: GlobalOperator, stage: str, task: Task) -> bool:
    return layout.stage_done(task.arg.step, op, stage, str(task.arg.task_index)).exists()


def _documents(layout: Layout, seg: Segment, shard: Shard, rows: int | None) -> int | None:
    """Documents a shard task will read, from the Parquet footer (None when not cheaply known);
    `rows`: the file plan's, when the plan read it (JSONL lines are not documents)."""
    import pyarrow.parquet as pq

    loc = layout.segment_input(seg, shard.name)
    if rows is not None and (loc is not None or shard.format == "parquet"):
        return rows
    if loc is None:
        if "://" in shard.path or shard.format != "parquet":
            return None
        loc = Location(shard.path)
    if loc.is_remote:  # a request per shard only for a progress bar: not worth it
        return None
    try:
        return pq.ParquetFile(loc.path).metadata.num_rows
    except (OSError, ValueError):  # the task itself reports unreadable files with file and reason
        return None


SKIPPED = "_skipped"  # the mark of a stage its `skip` said was unnecessary (no task ran)


def _mark(result: dict[str, Any]) -> dict[str, Any]:
    """The completion mark a shard task wrote, from the result it returned."""
    return {k: v for k, v in result.items() if k != "progress_documents"}


def _run_stages(backend: Backend, recipe_json: str, layout: Layout, steps: list[Operator], seg: Segment,
                shards: list[Shard], shard_list: ShardListRef, group_of: dict[int, int | None],
                written: dict[str, Any]) -> list[dict[str, Any]]:
    """The global operator's stages in order; a per-shard stage's tasks of small files share a
    task as the segment's shard tasks do (`group_of`: shard index -> group number). The marks
    its tasks wrote go to `written`."""
    op = steps[seg.first]
    assert isinstance(op, GlobalOperator)
    results = []
    ctx = stage_context(layout, seg.first, op, [s.name for s in shards])  # what a stage's `skip` reads
    for si, stage in enumerate(op.stages()):
        marks = layout.stage_marks(seg.first, op, stage.name)
        done = layout.done_names(marks)
        indices = stage.task_indices([s.index for s in shards])
        todo = [i for i in indices if str(i) not in done]
        if SKIPPED in done or not todo:
            continue
        if stage.skipped(ctx):  # earlier stages made it unnecessary (a converged round): said once, for a rerun
            (marks / f"{SKIPPED}.json").write_json({"stage": stage.name, "skipped": True})
            continue
        label = f"{op.name}:{stage.name}"
        resources = _resources([(label, stage.resources)])
        tasks = [Task(run_stage_task, StageTask(recipe_json, str(layout.out), seg.first, si, i, seg.previous, shard_list),
                      f"{label} task {i}", resources) for i in todo]
        if stage.kind == "shard":
            tasks = bundle(tasks, [group_of.get(i) for i in todo])
        done_now = _map(backend, tasks, label, functools.partial(_stage_done, layout, op, stage.name))
        written.update({layout.stage_done(seg.first, op, stage.name, str(i)).url: r
                        for i, r in zip(todo, done_now, strict=True)})
        results += done_now
    return results
