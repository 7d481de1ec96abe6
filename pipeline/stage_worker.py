"""The stage task: one task of a global operator's declared stage (per shard, per partition, or
once), reading the previous segment's shards or the input, communicating through its work folder."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from operators.base import GlobalOperator, ShardInput, StageContext
from pipeline.errors import StepError
from pipeline.io.documents import read_documents
from pipeline.io.readers import InputError, Shard, read_shard
from pipeline.plan import Layout, Segment, output_location
from pipeline.recipe import Recipe
from pipeline.shard_list import ShardListRef, load_shard_names, load_shards
from pipeline.task_metrics import TaskMeter
from pipeline.worker import naming_write_errors, read_intermediate, setup_step, worker_steps
from storage import files


@dataclass
class StageTask:
    recipe_json: str
    out: str
    step: int
    stage_index: int
    task_index: int  # shard index or partition; 0 for a global stage
    segment_before: Segment | None  # None: the stages read the input shards
    shard_list: ShardListRef  # the run's shards (read by the worker, once a process)
    executor_task: str | None = None  # the first task of the group it runs in (pipeline/groups.py); None: alone


def stage_context(layout: Layout, step: int, op: GlobalOperator, shard_names: list[str]) -> StageContext:
    workdir = layout.step_dir(step, op) / "data"
    workdir.mkdir()
    return StageContext(workdir=workdir, shard_names=shard_names, artifacts=layout.artifacts, read_files=read_documents)


def shard_inputs(layout: Layout, seg: Segment | None, shards: list[Shard], input_spec: Any) -> list[ShardInput]:
    """What a global step's stages read: the previous segment's shards, or the input itself."""

    def from_input(shard: Shard) -> ShardInput:
        def batches(cols: list[str] | None) -> Iterator[pa.Table]:
            # bad records are the shard task's to quarantine and count; stages just skip them
            for table in read_shard(shard, input_spec, quarantine=lambda record: None):
                yield table.select(cols) if cols else table

        return ShardInput(shard.index, shard.name, batches)

    def from_segment(shard: Shard) -> ShardInput:
        path = layout.segment_dir(seg) / f"{shard.name}.parquet"
        return ShardInput(shard.index, shard.name, lambda cols: read_intermediate(path, input_spec.batch_size, cols))

    return [from_segment(s) if seg is not None else from_input(s) for s in shards]


@naming_write_errors(lambda task: f"step {task.step} stage {task.stage_index} task {task.task_index}")
def run_stage_task(task: StageTask) -> dict[str, Any]:
    started = time.perf_counter()
    meter = TaskMeter()
    recipe = Recipe.model_validate(json.loads(task.recipe_json))
    op = worker_steps(task.recipe_json)[task.step]
    assert isinstance(op, GlobalOperator)
    layout = Layout(output_location(task.out, recipe.storage_options))
    setup_step(op, task.step, layout.artifacts)
    shards = load_shards(task.shard_list, layout)
    ctx = stage_context(layout, task.step, op, load_shard_names(task.shard_list, layout))
    ctx.shards = lambda: iter(shard_inputs(layout, task.segment_before, shards, recipe.input))
    stage = op.stages()[task.stage_index]
    # a per-shard task reads its own shard (its index is its place in the list)
    own = shards[task.task_index:task.task_index + 1] if stage.kind == "shard" else shards
    try:
        stage.run(task.task_index, shard_inputs(layout, task.segment_before, own, recipe.input), ctx)
    except InputError:
        raise
    except Exception as exc:
        raise StepError(f"step {task.step} ({op.name}) stage {stage.name!r} task {task.task_index} failed: "
                        f"{type(exc).__name__}: {exc}") from exc
    result = {"step": task.step, "stage": stage.name, "task": task.task_index,
              "seconds": time.perf_counter() - started, "metrics": dict(ctx.metrics),
              "resources": meter.read()}
    if task.executor_task is not None:
        result["executor_task"] = task.executor_task
    files.write_json(layout.stage_done(task.step, op, stage.name, str(task.task_index)), result)
    return result
