"""What global operators' stages are and what an executor gives them: the stage declaration and
its one task dispatcher, the shard inputs and context a stage sees, and the resources a task
reserves. Nothing here knows operators, so executors can use it alone; `operators.base`
re-exports it all.

The work folder and the artifacts folder are `storage.location.Location`s: a local folder or an
object-store URL (on a cloud cluster the nodes share no disk). Stages read and write them only
through `Location` / `storage.files` (and `operators.workfiles`), so the same code runs on both.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa

from storage.location import Location


@dataclass(frozen=True)
class Resources:
    """What one instance of an operator needs; the Ray executor reserves it."""

    cpus: float = 1.0
    memory_gb: float = 0.0


class ShardInput:
    """One input shard of a global operator's stage: its index, name and batches."""

    def __init__(self, index: int, name: str, batches: Callable[[list[str] | None], Iterator[pa.Table]]):
        self.index = index
        self.name = name
        self._batches = batches

    def batches(self, columns: list[str] | None = None) -> Iterator[pa.Table]:
        return self._batches(columns)


@dataclass
class StageContext:
    """What a stage sees: a work folder shared by all of this operator's stages (on every
    worker), the shard names in order, and (for global stages) every shard's batches. A local
    path given for `workdir` or `artifacts` becomes a Location."""

    workdir: Location
    shard_names: list[str]
    shards: Callable[[], Iterator[ShardInput]] | None = None
    metrics: Counter = field(default_factory=Counter)
    artifacts: Location | None = None  # where trained artifacts go (the run's output/artifacts)
    # (paths, text column) -> (file, batch) pairs: the executor's readers, for files a step names
    read_files: Callable[[str | list[str], str], Iterator[tuple[str, Any]]] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.workdir, Location):
            self.workdir = Location(self.workdir)
        if self.artifacts is not None and not isinstance(self.artifacts, Location):
            self.artifacts = Location(self.artifacts)

    @property
    def num_shards(self) -> int:
        return len(self.shard_names)

    def iter_files(self, paths: str | list[str], text_column: str = "text") -> Iterator[tuple[str, Any]]:
        """Documents of files a step names (a reference corpus), read as the run's input is."""
        if self.read_files is None:
            raise RuntimeError("this stage cannot read files: run it through the pipeline (pipeline.run or a recipe)")
        return self.read_files(paths, text_column)

    def iter_shards(self) -> Iterator[ShardInput]:
        if self.shards is None:
            raise RuntimeError("this stage has no access to shard data")
        return self.shards()


STAGE_KINDS = ("shard", "partition", "global")


@dataclass(frozen=True)
class Stage:
    """One declared stage of a global operator.

    kind = "shard":     fn(shard: ShardInput, ctx) runs once per shard, in parallel.
    kind = "partition": fn(partition: int, ctx) runs once per partition, in parallel.
    kind = "global":    fn(ctx) runs once.
    Stages write what they make under ctx.workdir (use `atomic_write_table`); the executor marks
    a stage done only when its function returned, so a rerun repeats unfinished stages.
    `skip(ctx)`, when given, tells before a stage starts that earlier stages made it unnecessary
    (a converged round of an iteration): the executor then runs none of its tasks, and records
    that it skipped it, so a rerun does not ask again (the work folder may be emptied by then).
    It reads only small files of the work folder.
    """

    name: str
    kind: Literal["shard", "partition", "global"]
    fn: Callable[..., None]
    partitions: int = 1
    resources: Resources = Resources()
    skip: Callable[[StageContext], bool] | None = None

    def __post_init__(self) -> None:
        if self.kind not in STAGE_KINDS:
            raise ValueError(f"stage {self.name!r}: kind {self.kind!r} is not one of {', '.join(STAGE_KINDS)}")

    def skipped(self, ctx: StageContext) -> bool:
        return self.skip is not None and self.skip(ctx)

    def task_indices(self, shard_indices: Sequence[int]) -> list[int]:
        """The stage's tasks: one per shard (the shard's index), one per partition, or one (0)."""
        if self.kind == "shard":
            return list(shard_indices)
        if self.kind == "partition":
            return list(range(self.partitions))
        return [0]

    def run(self, task_index: int, shard_inputs: Sequence[ShardInput], ctx: StageContext) -> None:
        """Run one task of `task_indices`: fn(the input shard of that index, ctx), fn(partition,
        ctx) or fn(ctx). Every executor (and the in-memory Python API) dispatches through here."""
        if self.kind == "shard":
            shard = next((s for s in shard_inputs if s.index == task_index), None)
            if shard is None:
                raise ValueError(f"stage {self.name!r}: no input shard with index {task_index}")
            self.fn(shard, ctx)
        elif self.kind == "partition":
            self.fn(task_index, ctx)
        else:
            self.fn(ctx)


def atomic_write_table(table: pa.Table, path: Location | Path, compression: str = "zstd") -> None:
    """Write Parquet through the storage layer (local or remote): readers never see a partial file."""
    from storage import files

    files.write_table(table, path, compression)
