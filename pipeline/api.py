"""Python API: run a list of operators over shards without writing a YAML file.

    from pipeline import run
    from operators.filters.length import WordsFilter
    result = run([WordsFilter(min_words=50), "exact_dedup"], "data/*.parquet", "out/clean", workers=2)
    result.stats["output"]["documents"]
"""

from __future__ import annotations

from typing import Any

from pydantic import SecretBytes, SecretStr
from pydantic_core import to_jsonable_python

from operators import registry
from operators.base import Operator
from pipeline.recipe import validate_recipe
from pipeline.runner import RunResult, run_recipe


def revealed(value: Any) -> Any:
    """`value` with every pydantic secret replaced by its value. The recipe carries parameters
    as JSON to every worker, where pydantic would write a secret as "**********" (issue 12:
    every salt hashed alike); masking is the job of what writes or shows them (`params()`,
    the report), as for a YAML recipe."""
    if isinstance(value, SecretStr | SecretBytes):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {k: revealed(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [revealed(v) for v in value]
    return value


def step_spec(step: Operator | str | dict[str, Any]) -> dict[str, Any]:
    """A recipe step from an operator instance, a registered name, or a {name: params} dict;
    the parameters are what a YAML recipe would hold, secrets included."""
    if isinstance(step, str):
        return {step: {}}
    if isinstance(step, dict):
        return revealed(step)
    cls = type(step)
    try:
        name = cls.name if registry.get(cls.name) is cls else f"{cls.__module__}:{cls.__qualname__}"
    except registry.UnknownOperator:
        name = f"{cls.__module__}:{cls.__qualname__}"
    params = revealed(step.model_dump(mode="python", exclude_defaults=True))
    return {name: to_jsonable_python(params)}


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
