"""The one stage dispatcher (`Stage.task_indices` / `Stage.run`): which tasks a stage has and
what each task calls, for the three stage kinds; the in-memory Python API runs through it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pyarrow as pa
import pytest
from pydantic import PrivateAttr

from operators.base import GlobalOperator, ShardInput, Stage, StageContext, StepResult


def shard(index: int) -> ShardInput:
    def batches(columns: list[str] | None) -> Iterator[pa.Table]:
        yield pa.table({"text": [f"shard {index}"]})

    return ShardInput(index, f"part-{index}", batches)


def test_task_indices_per_kind():
    noop = lambda *args: None  # noqa: E731
    assert Stage("s", "shard", noop).task_indices([3, 5, 8]) == [3, 5, 8]
    assert Stage("p", "partition", noop, partitions=4).task_indices([3, 5, 8]) == [0, 1, 2, 3]
    assert Stage("g", "global", noop).task_indices([3, 5, 8]) == [0]
    with pytest.raises(ValueError, match="kind 'once' is not one of shard, partition, global"):
        Stage("x", "once", noop)  # type: ignore[arg-type]


def test_run_calls_the_function_of_each_kind(tmp_path: Path):
    calls: list[tuple] = []
    ctx = StageContext(workdir=tmp_path, shard_names=["part-3", "part-5"])
    inputs = [shard(3), shard(5)]
    per_shard = Stage("s", "shard", lambda s, c: calls.append(("shard", s.name, c)))
    for task in per_shard.task_indices([3, 5]):
        per_shard.run(task, inputs, ctx)
    Stage("p", "partition", lambda p, c: calls.append(("partition", p, c)), partitions=2).run(1, inputs, ctx)
    Stage("g", "global", lambda c: calls.append(("global", c))).run(0, inputs, ctx)
    # shard tasks get the input of that shard index, not of that position
    assert calls == [("shard", "part-3", ctx), ("shard", "part-5", ctx), ("partition", 1, ctx), ("global", ctx)]
    with pytest.raises(ValueError, match="no input shard with index 1"):
        Stage("s", "shard", lambda s, c: None).run(1, inputs, ctx)


class ThreeStages(GlobalOperator):
    """Records its stage tasks; keeps every row."""

    name: ClassVar[str] = "three_stages_test"
    _calls: list = PrivateAttr(default_factory=list)

    def stages(self) -> list[Stage]:
        return [Stage("count", "shard", lambda s, ctx: self._calls.append(("count", s.index))),
                Stage("merge", "partition", lambda p, ctx: self._calls.append(("merge", p)), partitions=3),
                Stage("plan", "global", lambda ctx: self._calls.append(("plan", ctx.num_shards)))]

    def apply_shard(self, table: pa.Table, shard_index: int, ctx: StageContext) -> StepResult:
        self._calls.append(("apply", shard_index))
        return StepResult(table)


def test_python_api_runs_every_stage_task_in_order():
    op = ThreeStages()
    kept, removed, _reasons = op.run([{"text": "a"}, {"text": "b"}])
    assert kept.num_rows == 2 and removed.num_rows == 0
    assert op._calls == [("count", 0), ("merge", 0), ("merge", 1), ("merge", 2), ("plan", 1), ("apply", 0)]
