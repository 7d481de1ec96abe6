"""What a finished run left in its output folder, located and loaded for the report.

The report reads `stats.json` (the accounting), `_work/recipe.json` (the recipe), the final
Parquet shards, `rejected/stepNN_<op>/*.parquet` and `quarantine/*.parquet`; it never reads the
text of all documents, only statistic columns and a few example rows. The folder may be on an
object store (a `Location`): files are then read through the store, never downloaded whole.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from pydantic import ValidationError

from operators import registry
from operators.base import Filter, Operator
from pipeline.recipe import Recipe
from storage.location import Location

STEP_DIR = re.compile(r"^step(\d+)_(.+)$")


class ReportError(RuntimeError):
    """The folder does not hold what a report needs; says what is missing."""


@dataclass
class RunData:
    out: Location
    stats: dict[str, Any]
    recipe: Recipe | None
    steps: list[Operator | None]  # rebuilt from the recipe; None where the operator is unavailable
    notes: list[str]
    output_files: list[Location]
    rejected: dict[int, list[Location]]  # step index -> files of documents removed there
    quarantine_files: list[Location]
    shard_inputs: dict[str, int] = field(default_factory=dict)  # shard -> documents read (segment 0)

    def step_name(self, k: int) -> str:
        return self.stats["steps"][k]["operator"]

    def thresholds(self) -> dict[str, tuple[int, tuple[float | None, float | None]]]:
        """Statistic column -> (step index, (min kept, max kept)); the first filter wins."""
        out: dict[str, tuple[int, tuple[float | None, float | None]]] = {}
        for k, op in enumerate(self.steps):
            if isinstance(op, Filter):
                for column, bounds in op.stat_thresholds().items():
                    out.setdefault(column, (k, bounds))
        return out


def rebuild_steps(recipe: Recipe) -> tuple[list[Operator | None], list[str]]:
    """Operators from the recipe (construction only stores parameters); missing ones noted."""
    steps: list[Operator | None] = []
    notes = []
    for k, (name, params) in enumerate(recipe.step_specs()):
        try:
            steps.append(registry.build(name, params))
        except (registry.UnknownOperator, ValidationError, ValueError, TypeError) as exc:
            steps.append(None)
            notes.append(f"step {k} ({name}) could not be rebuilt here, so its thresholds are not drawn: {exc}")
    return steps, notes


def load_run(out_dir: Path | Location) -> RunData:
    out = Location(out_dir)
    stats_path = out / "stats.json"
    try:
        stats = json.loads(stats_path.read_bytes().decode("utf-8"))
    except (FileNotFoundError, IsADirectoryError):
        raise ReportError(f"{out}: no stats.json, so no finished pipeline run to report on "
                          f"(run `pipeline run RECIPE` first, or check the folder)") from None
    except json.JSONDecodeError as exc:
        raise ReportError(f"{stats_path}: not valid JSON ({exc})") from None
    recipe: Recipe | None = None
    notes: list[str] = []
    recipe_path = out / "_work" / "recipe.json"
    manifest = recipe_path.read_mark()
    if manifest is not None:
        recipe = Recipe.model_validate(manifest["recipe"])
        steps, notes = rebuild_steps(recipe)
    else:
        steps = [None] * len(stats["steps"])
        notes.append(f"{recipe_path} is missing: recipe and thresholds not shown")
    if len(steps) != len(stats["steps"]):
        raise ReportError(f"{out}: the recipe has {len(steps)} steps but stats.json has {len(stats['steps'])}")
    output_files = [out / f for shard in stats["output"]["shards"] for f in shard["files"]]
    present = {name for folder in {p.parent for p in output_files} for name in _names(folder)}
    missing = [str(p) for p in output_files if p.name not in present]
    if missing:
        raise ReportError(f"{out}: output shards listed in stats.json are missing: {', '.join(missing[:5])}")
    rejected: dict[int, list[Location]] = {}
    for name in (out / "rejected").list_names():
        m = STEP_DIR.match(name)
        if m:
            rejected[int(m.group(1))] = _parquet_files(out / "rejected" / name)
    quarantine = _parquet_files(out / "quarantine")
    shard_inputs = {row["shard"]: int(row["documents_in"]) for row in stats["output"]["shards"]}
    return RunData(out, stats, recipe, steps, notes, output_files, rejected, quarantine, shard_inputs)


def _names(folder: Location) -> list[str]:
    return folder.list_names()


def _parquet_files(folder: Location) -> list[Location]:
    return [folder / n for n in folder.list_names() if n.endswith(".parquet")]


def parquet_file(path: Path | Location) -> pq.ParquetFile:
    """A Parquet file to read by row groups and columns, local or on an object store."""
    loc = Location(path)
    return pq.ParquetFile(loc.open() if loc.is_remote else loc.path)


def parquet_rows(path: Path | Location) -> int:
    return parquet_file(path).metadata.num_rows
