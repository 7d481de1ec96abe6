"""Planning a run: segments split at global operators, and where each part of a run lives.

A plan is a list of segments: segment 0 runs the shard-local steps before the first global
operator; each later segment starts with a global operator (whose stages run first, over the
previous segment's materialized shards) and goes on with the local steps after it. The last
segment writes the final output.

Output folder:
  <shard>.parquet                 kept documents, named after the input shard
  rejected/stepNN_<op>/<shard>.parquet   removed documents with `operator` and `reason`
  quarantine/<shard>.parquet      bad input records with file, row, field, reason
  stats.json                      merged accounting; artifacts/ what global steps trained
  _work/                          manifest (recipe.json), completion marks; intermediate data during a run
  .pipeline.lock                  while a run holds the folder (pipeline/output_folder.py, storage/lock.py)

The folder is a `storage.location.Location`: a local path or an fsspec URL (`s3://bucket/run`)
carrying the recipe's storage options, so every place derived from it reaches the same store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from operators.base import GlobalOperator, Operator
from storage.location import Location


@dataclass(frozen=True)
class Segment:
    index: int
    first: int  # first step index (a global operator when index > 0)
    end: int  # exclusive
    last: bool

    @property
    def previous(self) -> Segment | None:
        """The segment whose shards this one reads (None: it reads the input)."""
        return Segment(self.index - 1, 0, 0, False) if self.index > 0 else None


def plan_segments(steps: list[Operator]) -> list[Segment]:
    # a global first step's stages read the input shards themselves: no copy of the input first
    starts = [0] + [i for i, op in enumerate(steps) if isinstance(op, GlobalOperator) and i > 0]
    bounds = starts + [len(steps)]
    return [Segment(i, bounds[i], bounds[i + 1], i == len(starts) - 1) for i in range(len(starts))]


def segment_label(seg: Segment, steps: list[Operator]) -> str:
    names = [steps[k].name for k in range(seg.first, seg.end)]
    if not names:
        return "read input"
    return names[0] if len(names) == 1 else f"{names[0]} … {names[-1]}"


def output_location(path: str, storage_options: dict[str, Any] | None = None) -> Location:
    """The output folder of a recipe: `output.path` with the recipe's top-level storage options."""
    return Location(path, storage_options or None)


@dataclass
class Layout:
    out: Location

    @property
    def work(self) -> Location:
        return self.out / "_work"

    def segment_dir(self, seg: Segment) -> Location:
        return self.out if seg.last else self.work / f"seg{seg.index}"

    def segment_marks(self, seg: Segment) -> Location:
        return self.work / f"seg{seg.index}" / "_done"

    def segment_done(self, seg: Segment, shard: str) -> Location:
        return self.segment_marks(seg) / f"{shard}.json"

    def segment_input(self, seg: Segment, shard: str) -> Location | None:
        """The materialized input of a later segment's shard (None for segment 0)."""
        before = seg.previous
        return None if before is None else self.segment_dir(before) / f"{shard}.parquet"

    def step_dir(self, step: int, op: Operator) -> Location:
        return self.work / f"step{step:02d}_{op.name}"

    def stage_marks(self, step: int, op: Operator, stage: str) -> Location:
        return self.step_dir(step, op) / "_done" / stage

    def stage_done(self, step: int, op: Operator, stage: str, task: str) -> Location:
        return self.stage_marks(step, op, stage) / f"{task}.json"

    def done_names(self, marks: Location) -> set[str]:
        """Names (without .json) of the completion marks in a `_done` folder: one listing, not one
        request per shard on an object store."""
        return {n[:-len(".json")] for n in marks.list_names() if n.endswith(".json")}

    def rejected_dir(self, step: int, op: Operator) -> Location:
        return self.out / "rejected" / f"step{step:02d}_{op.name}"

    @property
    def quarantine_dir(self) -> Location:
        return self.out / "quarantine"

    @property
    def artifacts(self) -> Location:
        return self.out / "artifacts"
