"""Drives a recipe: plans segments around global operators, runs shard tasks and declared
stages through a backend (local processes or Ray), keeps the accounting and resume marks.

The runner knows only the operator base classes. A plan is a list of segments: segment 0 runs
the shard-local steps before the first global operator; each later segment starts with a global
operator (whose stages run first, over the previous segment's materialized shards) and goes on
with the local steps after it. The last segment writes the final output.

Output folder:
  <shard>.parquet                 kept documents, named after the input shard
  rejected/stepNN_<op>/<shard>.parquet   removed documents with `operator` and `reason`
  quarantine/<shard>.parquet      bad input records with file, row, field, reason
  stats.json                      merged accounting; artifacts/ what global steps trained
  _work/                          manifest (recipe.json), completion marks; intermediate data during a run
  .pipeline.lock                  while a run holds the folder (pipeline/output_folder.py, run_lock.py)
"""

from __future__ import annotations

import functools
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from operators.base import DOC_KEY, ID, SHARD_BITS, TEXT, GlobalOperator, Operator, ShardInput, StageContext
from pipeline.io.readers import InputError, Quarantined, Shard, list_shards, read_shard
from pipeline.io.writers import ShardWriter, atomic_write_json
from pipeline.recipe import Recipe

INTERNAL_COLUMNS = (DOC_KEY,)


class AccountingError(RuntimeError):
    """Documents in != kept + removed: a bug, never to be ignored."""


class StepError(RuntimeError):
    """An operator failed; names the step, operator and shard."""


@dataclass(frozen=True)
class Segment:
    index: int
    first: int  # first step index (a global operator when index > 0)
    end: int  # exclusive
    last: bool


def plan_segments(steps: list[Operator]) -> list[Segment]:
    # a global first step's stages read the input shards themselves: no copy of the input first
    starts = [0] + [i for i, op in enumerate(steps) if isinstance(op, GlobalOperator) and i > 0]
    bounds = starts + [len(steps)]
    segs = [Segment(i, bounds[i], bounds[i + 1], i == len(starts) - 1) for i in range(len(starts))]
    return segs


@dataclass
class Layout:
    out: Path

    @property
    def work(self) -> Path:
        return self.out / "_work"

    def segment_dir(self, seg: Segment) -> Path:
        return self.out if seg.last else self.work / f"seg{seg.index}"

    def segment_done(self, seg: Segment, shard: str) -> Path:
        return self.work / f"seg{seg.index}" / "_done" / f"{shard}.json"

    def step_dir(self, step: int, op: Operator) -> Path:
        return self.work / f"step{step:02d}_{op.name}"

    def stage_done(self, step: int, op: Operator, stage: str, task: str) -> Path:
        return self.step_dir(step, op) / "_done" / stage / f"{task}.json"

    def rejected_dir(self, step: int, op: Operator) -> Path:
        return self.out / "rejected" / f"step{step:02d}_{op.name}"

    @property
    def artifacts(self) -> Path:
        return self.out / "artifacts"


# ---- worker side ---------------------------------------------------------------------------

_OPS_CACHE: dict[str, list[Operator]] = {}
_progress: Callable[[str, int], None] | None = None


def set_progress_hook(hook: Callable[[str, int], None] | None) -> None:
    global _progress
    _progress = hook


def worker_steps(recipe_json: str) -> list[Operator]:
    """Operators for a recipe, built once per process and set up lazily."""
    ops = _OPS_CACHE.get(recipe_json)
    if ops is None:
        recipe = Recipe.model_validate(json.loads(recipe_json))
        ops = recipe.build_steps()
        _OPS_CACHE.clear()
        _OPS_CACHE[recipe_json] = ops
    return ops


@dataclass
class ShardTask:
    recipe_json: str
    out: str
    segment: Segment
    shard: Shard
    shard_names: list[str]


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


def _text_size(table: pa.Table) -> tuple[int, int]:
    """UTF-8 bytes and characters of the text column."""
    if not table.num_rows:
        return 0, 0
    text = table.column(TEXT)
    n_bytes = pa.compute.sum(pa.compute.binary_length(text)).as_py() or 0
    n_chars = pa.compute.sum(pa.compute.utf8_length(text)).as_py() or 0
    return int(n_bytes), int(n_chars)


def _segment_source(task: ShardTask, recipe: Recipe, quarantine: Callable[[Quarantined], None] | None) -> Iterator[pa.Table]:
    if task.segment.index == 0:
        yield from read_shard(task.shard, recipe.input, quarantine)
        return
    path = segment_input_path(Layout(Path(task.out)), task)
    assert path is not None
    yield from _read_intermediate(path, recipe.input.batch_size)


def _read_intermediate(path: Path, batch_size: int, columns: list[str] | None = None) -> Iterator[pa.Table]:
    pf = pq.ParquetFile(path)
    if pf.metadata.num_rows == 0:  # an empty shard still carries its schema downstream
        schema = pf.schema_arrow
        yield (schema.empty_table().select(columns) if columns else schema.empty_table())
        return
    for batch in pf.iter_batches(batch_size=batch_size, columns=columns):
        yield pa.Table.from_batches([batch])


def _naming_write_errors(fn: Callable[[Any], dict[str, Any]]) -> Callable[[Any], dict[str, Any]]:
    """An OSError escaping a task is the output folder failing (disk full, read-only): one clear
    error naming the task, the path and the cause (input errors are InputError already)."""

    @functools.wraps(fn)
    def task_fn(task: Any) -> dict[str, Any]:
        try:
            return fn(task)
        except OSError as exc:
            from pipeline.output_folder import output_errors, write_error

            if not output_errors(exc):
                raise
            what = f"shard {task.shard.path}" if isinstance(task, ShardTask) else \
                f"step {task.step} stage {task.stage_index} task {task.task_index}"
            raise write_error(exc, Path(task.out), what) from exc

    return task_fn


@_naming_write_errors
def run_shard_task(task: ShardTask) -> dict[str, Any]:
    """Run one segment over one shard; write output, rejected rows and the completion mark."""
    started = time.perf_counter()
    recipe = Recipe.model_validate(json.loads(task.recipe_json))
    ops = worker_steps(task.recipe_json)
    layout = Layout(Path(task.out))
    seg = task.segment
    seg_ops = list(range(seg.first, seg.end))
    counts = {k: StepCounts() for k in seg_ops}
    quarantined: Counter = Counter()
    q_rows: list[dict[str, Any]] = []

    def quarantine(rec: Quarantined) -> None:
        quarantined[rec.reason.split(" ")[0]] += 1
        q_rows.append(asdict(rec))

    out_cfg = recipe.output
    rename = {}
    if seg.last:
        rename = {TEXT: recipe.input.text_column, ID: recipe.input.id_column or ID}
        rename = {k: v for k, v in rename.items() if k != v}
    writer = ShardWriter(
        layout.segment_dir(seg), task.shard.name, out_cfg.compression,
        rows_per_file=out_cfg.rows_per_shard if seg.last else None,
        rename=rename, drop=INTERNAL_COLUMNS if seg.last else (),
    )
    rejected: dict[int, ShardWriter] = {}
    read_docs = 0
    for k in seg_ops:
        op = ops[k]
        if isinstance(op, GlobalOperator):
            ctx = _stage_context(layout, k, op, task.shard_names)
            op.bind(ctx)
        _setup(op, k, layout)
    # documents removed before a PII-scrubbing step are scrubbed by it before reaching a sink
    redactor_after = {k: next((ops[j] for j in range(k + 1, len(ops)) if ops[j].redacts_sinks), None)
                      for k in range(-1, len(ops))}
    source_schema: pa.Schema | None = None
    try:
        for table in _segment_source(task, recipe, quarantine if out_cfg.quarantine else None):
            source_schema = table.schema
            read_docs += table.num_rows
            for k in seg_ops:
                if table.num_rows == 0:
                    break
                op = ops[k]
                c = counts[k]
                c.documents_in += table.num_rows
                if k == seg.first:
                    b, ch = _text_size(table)
                else:  # what the previous step let through
                    b, ch = counts[k - 1].last_out
                c.bytes_in += b
                c.chars_in += ch
                t0 = time.perf_counter()
                try:
                    result = op.apply(table)
                except InputError:
                    raise
                except Exception as exc:
                    first = int(table.column(DOC_KEY)[0].as_py()) & ((1 << SHARD_BITS) - 1)
                    raise StepError(
                        f"step {k} ({op.name}) failed on shard {task.shard.path} rows {first}..{first + table.num_rows - 1}: "
                        f"{type(exc).__name__}: {exc}"
                    ) from exc
                kept, removed, reasons = result.split()
                c.seconds += time.perf_counter() - t0
                if removed.num_rows:
                    for reason, n in Counter(reasons.to_pylist()).items():
                        c.removed[reason] += n
                    if out_cfg.rejected:
                        redactor = redactor_after[k]
                        if redactor is not None:
                            _setup(redactor, ops.index(redactor), layout)
                            removed = redactor.redact(removed)
                        w = rejected.get(k)
                        if w is None:
                            w = rejected[k] = ShardWriter(
                                layout.rejected_dir(k, op), task.shard.name, out_cfg.compression, drop=INTERNAL_COLUMNS
                            )
                        w.write(removed.append_column("operator", pa.array([op.name] * removed.num_rows, pa.string()))
                                .append_column("reason", reasons.cast(pa.string())))
                c.documents_out += kept.num_rows
                c.last_out = _text_size(kept)
                c.bytes_out += c.last_out[0]
                c.chars_out += c.last_out[1]
                table = kept
            if table.num_rows:
                writer.write(table)
            if _progress is not None:
                _progress(task.shard.name, read_docs)
        for k in seg_ops:
            counts[k].metrics.update(ops[k].pop_metrics())
        written = writer.rows
        files = writer.commit(empty_schema=source_schema)
        for w in rejected.values():
            w.commit()
        if q_rows:
            q_table = pa.Table.from_pylist(q_rows)
            redactor = redactor_after[-1]
            if redactor is not None:
                _setup(redactor, ops.index(redactor), layout)
                raw = redactor.redact(pa.table({TEXT: q_table.column("raw")})).column(TEXT)
                q_table = q_table.set_column(q_table.schema.get_field_index("raw"), "raw", raw)
            qw = ShardWriter(layout.out / "quarantine", task.shard.name, out_cfg.compression)
            qw.write(q_table)
            qw.commit()
    except BaseException:
        writer.abort()
        for w in rejected.values():
            w.abort()
        raise
    removed_total = sum(sum(c.removed.values()) for c in counts.values())
    n_quarantined = sum(quarantined.values())
    total_in = read_docs + n_quarantined
    if read_docs != written + removed_total:  # quarantined records never reach the steps
        raise AccountingError(
            f"shard {task.shard.name} segment {seg.index}: {read_docs} documents read, {written} kept, "
            f"{removed_total} removed"
        )
    stats = {
        "shard": task.shard.name,
        "path": task.shard.path,
        "segment": seg.index,
        "documents_in": total_in,
        "documents_out": written,
        "quarantined": dict(quarantined),
        "files": files,
        "seconds": time.perf_counter() - started,
        "steps": {str(k): {**{f: v for f, v in asdict(c).items() if f != "last_out"}, "removed": dict(c.removed),
                           "metrics": dict(c.metrics)} for k, c in counts.items()},
    }
    atomic_write_json(layout.segment_done(seg, task.shard.name), stats)
    return stats


def _setup(op: Operator, step: int, layout: Layout) -> None:
    """Tell the operator where this run's artifacts are, then set it up (once per process)."""
    op.bind_run(layout.artifacts)
    try:
        op.ensure_setup()
    except (InputError, StepError):
        raise
    except Exception as exc:
        raise StepError(f"step {step} ({op.name}) could not be set up: {type(exc).__name__}: {exc}") from exc


def _stage_context(layout: Layout, step: int, op: GlobalOperator, shard_names: list[str]) -> StageContext:
    ctx = StageContext(workdir=layout.step_dir(step, op) / "data", shard_names=shard_names, artifacts=layout.artifacts)
    ctx.workdir.mkdir(parents=True, exist_ok=True)
    return ctx


@dataclass
class StageTask:
    recipe_json: str
    out: str
    step: int
    stage_index: int
    task_index: int  # shard index or partition; 0 for a global stage
    segment_before: Segment | None  # None: the stages read the input shards
    shards: list[Shard]


def _shard_inputs(layout: Layout, seg: Segment | None, shards: list[Shard], input_spec: Any) -> list[ShardInput]:
    """What a global step's stages read: the previous segment's shards, or the input itself."""

    def from_input(shard: Shard) -> ShardInput:
        def batches(cols: list[str] | None) -> Iterator[pa.Table]:
            # bad records are the shard task's to quarantine and count; stages just skip them
            for table in read_shard(shard, input_spec, quarantine=lambda record: None):
                yield table.select(cols) if cols else table

        return ShardInput(shard.index, shard.name, batches)

    def from_segment(shard: Shard) -> ShardInput:
        path = layout.segment_dir(seg) / f"{shard.name}.parquet"
        return ShardInput(shard.index, shard.name, lambda cols: _read_intermediate(path, input_spec.batch_size, cols))

    return [from_segment(s) if seg is not None else from_input(s) for s in shards]


@_naming_write_errors
def run_stage_task(task: StageTask) -> dict[str, Any]:
    started = time.perf_counter()
    recipe = Recipe.model_validate(json.loads(task.recipe_json))
    op = worker_steps(task.recipe_json)[task.step]
    assert isinstance(op, GlobalOperator)
    layout = Layout(Path(task.out))
    _setup(op, task.step, layout)
    names = [s.name for s in task.shards]
    ctx = _stage_context(layout, task.step, op, names)
    inputs = _shard_inputs(layout, task.segment_before, task.shards, recipe.input)
    ctx.shards = lambda: iter(inputs)
    stage = op.stages()[task.stage_index]
    try:
        if stage.kind == "shard":
            stage.fn(inputs[task.task_index], ctx)
        elif stage.kind == "partition":
            stage.fn(task.task_index, ctx)
        else:
            stage.fn(ctx)
    except InputError:
        raise
    except Exception as exc:
        raise StepError(f"step {task.step} ({op.name}) stage {stage.name!r} task {task.task_index} failed: "
                        f"{type(exc).__name__}: {exc}") from exc
    result = {"step": task.step, "stage": stage.name, "task": task.task_index,
              "seconds": time.perf_counter() - started, "metrics": dict(ctx.metrics)}
    atomic_write_json(layout.stage_done(task.step, op, stage.name, str(task.task_index)), result)
    return result


# ---- driver side ---------------------------------------------------------------------------


class Backend:
    """Runs task functions in parallel; `map` returns results in the order of `items`."""

    def map(self, fn: Callable[[Any], dict[str, Any]], items: list[Any], label: str) -> list[dict[str, Any]]:
        raise NotImplementedError

    def close(self) -> None:
        pass


@dataclass
class RunResult:
    out: Path
    stats: dict[str, Any]

    @property
    def kept(self) -> int:
        return self.stats["output"]["documents"]


def run_recipe(recipe: Recipe, backend: Backend | None = None, fresh: bool = False, progress: bool = False) -> RunResult:
    """Run a validated recipe; resumes unfinished work in its output folder (which it locks)."""
    from pipeline import output_folder as folder
    from pipeline.executors import make_backend
    from pipeline.stats import build_stats

    started = time.time()
    shards = list_shards(recipe.input)
    steps = recipe.build_steps()
    segments = plan_segments(steps)
    layout, lock = folder.prepare_output(recipe, shards, fresh)
    try:
        folder.warn_about_kept_raw_text(recipe, steps, segments, layout.out)
        recipe_json = recipe.model_dump_json()  # secrets in clear: in memory only, for the workers
        names = [s.name for s in shards]
        own_backend = backend is None
        backend = backend or make_backend(recipe.executor, progress=progress)
        try:
            for seg in segments:
                if seg.first < seg.end and isinstance(steps[seg.first], GlobalOperator):
                    _run_stages(backend, recipe_json, layout, steps, seg, shards)
                todo = [s for s in shards if not layout.segment_done(seg, s.name).exists()]
                tasks = [ShardTask(recipe_json, str(layout.out), seg, s, names) for s in todo]
                backend.map(run_shard_task, tasks, label=_segment_label(seg, steps))
        finally:
            if own_backend:
                backend.close()
        stats = build_stats(recipe, layout, steps, segments, shards, wall_seconds=time.time() - started)
        atomic_write_json(layout.out / "stats.json", stats)
        if not recipe.output.keep_intermediate:
            folder.remove_work_data(layout, steps, segments)
    except OSError as exc:
        if not folder.output_errors(exc):
            raise
        raise folder.write_error(exc, layout.out, "writing the run's results") from exc
    finally:
        lock.release()
    return RunResult(layout.out, stats)


def _segment_label(seg: Segment, steps: list[Operator]) -> str:
    names = [steps[k].name for k in range(seg.first, seg.end)]
    if not names:
        return "read input"
    return names[0] if len(names) == 1 else f"{names[0]} … {names[-1]}"


def segment_input_path(layout: Layout, task: ShardTask) -> Path | None:
    """The materialized input of a later segment's shard (None for segment 0)."""
    if task.segment.index == 0:
        return None
    return layout.segment_dir(Segment(task.segment.index - 1, 0, 0, False)) / f"{task.shard.name}.parquet"


def _run_stages(backend: Backend, recipe_json: str, layout: Layout, steps: list[Operator], seg: Segment,
                shards: list[Shard]) -> list[dict[str, Any]]:
    op = steps[seg.first]
    assert isinstance(op, GlobalOperator)
    before = Segment(seg.index - 1, 0, 0, False) if seg.index > 0 else None
    results = []
    for si, stage in enumerate(op.stages()):
        if stage.kind == "shard":
            indices = [s.index for s in shards]
        elif stage.kind == "partition":
            indices = list(range(stage.partitions))
        else:
            indices = [0]
        todo = [i for i in indices if not layout.stage_done(seg.first, op, stage.name, str(i)).exists()]
        tasks = [StageTask(recipe_json, str(layout.out), seg.first, si, i, before, shards) for i in todo]
        results += backend.map(run_stage_task, tasks, label=f"{op.name}:{stage.name}")
    return results
