"""What every task shares on a worker: the recipe's operators built once per process, their
setup with errors that name the step, and reading the intermediate shards between segments."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from operators.base import Operator
from pipeline.errors import StepError
from pipeline.io.readers import InputError
from pipeline.recipe import Recipe
from storage import files
from storage.location import Location

TaskFn = Callable[[Any], dict[str, Any]]
_OPS_CACHE: dict[str, list[Operator]] = {}


def worker_steps(recipe_json: str) -> list[Operator]:
    """Operators for a recipe, built once per process and set up lazily."""
    ops = _OPS_CACHE.get(recipe_json)
    if ops is None:
        recipe = Recipe.model_validate(json.loads(recipe_json))
        # the recipe's storage_options reach every URL it names (models, reference files) here too
        if recipe.storage_options:
            files.set_default_options(recipe.storage_options, recipe.storage_protocols())
        ops = recipe.build_steps()
        _OPS_CACHE.clear()
        _OPS_CACHE[recipe_json] = ops
    return ops


def setup_step(op: Operator, step: int, artifacts: Location) -> None:
    """Tell the operator where this run's artifacts are, then set it up (once per process)."""
    op.bind_run(artifacts)
    try:
        op.ensure_setup()
    except (InputError, StepError):
        raise
    except Exception as exc:
        raise StepError(f"step {step} ({op.name}) could not be set up: {type(exc).__name__}: {exc}") from exc


def read_intermediate(path: Location, batch_size: int, columns: list[str] | None = None,
                      row_groups: tuple[int, int] | None = None) -> Iterator[pa.Table]:
    """The batches of a segment's shard, or of its row groups [first, end) (a piece)."""
    with path.reader() as source:
        pf = pq.ParquetFile(source)
        if pf.metadata.num_rows == 0:  # an empty shard still carries its schema downstream
            schema = pf.schema_arrow
            yield (schema.empty_table().select(columns) if columns else schema.empty_table())
            return
        groups = range(*row_groups) if row_groups else None
        for batch in pf.iter_batches(batch_size=batch_size, columns=columns, row_groups=groups):
            yield pa.Table.from_batches([batch])


def naming_write_errors(describe: Callable[[Any], str]) -> Callable[[TaskFn], TaskFn]:
    """An OSError escaping a task is the output folder failing (disk full, read-only): one clear
    error naming the task, the path and the cause (input errors are InputError already)."""

    def wrap(fn: TaskFn) -> TaskFn:
        @functools.wraps(fn)
        def task_fn(task: Any) -> dict[str, Any]:
            try:
                return fn(task)
            except Exception as exc:
                from pipeline.output_folder import output_errors, store_errors, write_error

                if not isinstance(exc, store_errors()) or not output_errors(exc):
                    raise
                raise write_error(exc, Location(task.out), describe(task)) from exc

        return task_fn

    return wrap
