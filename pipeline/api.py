"""Python API: run a list of operators over shards without writing a YAML file.

    from pipeline import run
    from operators.filters.length import WordsFilter
    result = run([WordsFilter(min_words=50), "exact_dedup"], "data/*.parquet", "out/clean", workers=2)
    result.stats["output"]["documents"]
"""

from __future__ import annotations

from typing import Any

from operators import registry
from operators.base import Operator
from pipeline.recipe import validate_recipe
from pipeline.runner import RunResult, run_recipe


def step_spec(step: Operator | str | dict[str, Any]) -> dict[str, Any]:
    """A recipe step from an operator instance, a registered name, or a {name: params} dict."""
    if isinstance(step, str):
        return {step: {}}
    if isinstance(step, dict):
        return step
    cls = type(step)
    try:
        name = cls.name if registry.get(cls.name) is cls else f"{cls.__module__}:{cls.__qualname__}"
    except registry.UnknownOperator:
        name = f"{cls.__module__}:{cls.__qualname__}"
    return {name: step.model_dump(mode="json", exclude_defaults=True)}


def run(
    steps: list[Operator | str | dict[str, Any]],
    input: str | list[str],
    output: str,
    *,
    text_column: str = "text",
    id_column: str | None = None,
    workers: int = 1,
    executor: str = "local",
    fresh: bool = False,
    progress: bool = False,
    **output_options: Any,
) -> RunResult:
    """Run `steps` over the input shards into `output`; same semantics as `pipeline run`."""
    recipe = validate_recipe(
        {
            "input": {"path": input, "text_column": text_column, "id_column": id_column},
            "output": {"path": output, "report": False, **output_options},
            "executor": {"type": executor, "workers": workers},
            "steps": [step_spec(s) for s in steps],
        },
        source="pipeline.run",
    )
    return run_recipe(recipe, fresh=fresh, progress=progress)
