"""Recipes: YAML (safe loading only) validated against a schema before any work starts.

`load_recipe` returns a `Recipe` or raises `RecipeError` holding every problem found, each
with its YAML path (`steps[2].words_filter.min_words: must be >= 0`).
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from operators import registry
from operators.base import Operator
from pipeline.recipe_yaml import load_yaml

ROWS_PER_TASK = 10_000  # bench/RESULTS.md, "Big files as several tasks"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InputSpec(_Strict):
    path: str | list[str] = Field(description="path, glob or list of them; local or s3://")
    text_column: str = "text"
    id_column: str | None = Field(None, description="null: the `id` column if present, else `<shard>/<row>`")
    format: Literal["auto", "parquet", "jsonl"] = "auto"
    batch_size: int = Field(1000, ge=1, le=1_000_000, description="rows per batch; bounds memory")
    storage_options: dict[str, Any] = Field(default_factory=dict, description="fsspec options, e.g. for s3://")
    max_line_bytes: int = Field(64 << 20, ge=1024, description="JSONL: a longer line is quarantined (line_too_long)")
    rows_per_task: int | None = Field(
        ROWS_PER_TASK, ge=0, description="cut a big file into tasks of about this many rows (Parquet: by row groups; "
        "uncompressed JSONL: by lines); 0 or null: one task a file. The output is the same either way")


class OutputSpec(_Strict):
    path: str = Field(description="a local folder or an fsspec URL (s3://bucket/prefix)")
    rejected: bool = Field(True, description="write removed documents with operator and reason")
    quarantine: bool = Field(True, description="bad records go to quarantine/; false: they stop the run")
    compression: Literal["zstd", "snappy", "gzip", "lz4", "brotli", "none"] = "zstd"
    rows_per_shard: int | None = Field(None, ge=1, description="split output shards; null: one per input shard")
    keep_intermediate: bool = Field(False, description="keep the shards materialized before global steps")
    report: bool = Field(True, description="write report.html at the end of the run")


class ExecutorSpec(_Strict):
    type: Literal["local", "ray"] = "local"
    workers: int = Field(1, ge=1, le=1024)
    address: str | None = Field(None, description="ray: null starts a local instance, auto joins one")


class Recipe(_Strict):
    input: InputSpec
    output: OutputSpec
    executor: ExecutorSpec = Field(default_factory=ExecutorSpec)
    steps: list[dict[str, dict[str, Any] | None]] = Field(default_factory=list)
    storage_options: dict[str, Any] = Field(
        default_factory=dict, description="fsspec options for every URL of the recipe (output, models, reference "
                                          "files); input.storage_options override them key by key for the input")

    def step_specs(self) -> list[tuple[str, dict[str, Any]]]:
        return [(name, dict(params or {})) for step in self.steps for name, params in step.items()]

    def build_steps(self) -> list[Operator]:
        return [registry.build(name, params) for name, params in self.step_specs()]

    def fingerprint(self) -> str:
        """Hash of what decides the output (not the executor, not reporting)."""
        data = self.model_dump(mode="json")
        data.pop("executor", None)
        data["input"].pop("rows_per_task", None)  # how files are cut into tasks never changes the output
        data.pop("storage_options", None)  # how to reach the store, not what is written there
        data["output"].pop("report", None)
        data["output"].pop("keep_intermediate", None)
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


    def storage_protocols(self) -> set[str]:
        """fsspec protocols of the URLs the recipe names: output, input, step parameters."""
        from storage import files

        found: set[str] = set()

        def visit(value: Any) -> None:
            if isinstance(value, str) and "://" in value:
                protocol = files.split_protocol(value)[0]
                if protocol not in (None, "file", "local"):
                    found.add(protocol)
            elif isinstance(value, dict):
                for v in value.values():
                    visit(v)
            elif isinstance(value, list):
                for v in value:
                    visit(v)

        visit([self.output.path, self.input.path, self.steps])
        return found


@contextmanager
def storage_defaults(recipe: Recipe) -> Iterator[None]:
    """While a run lasts, the recipe's storage_options apply to every URL it names."""
    from storage import files

    if not recipe.storage_options:  # nothing to apply (and no fsspec import for a local run)
        yield
        return
    with files.default_options(recipe.storage_options, recipe.storage_protocols()):
        yield


class RecipeError(ValueError):
    def __init__(self, problems: list[str], source: str = "recipe"):
        self.problems = problems
        self.source = source
        super().__init__(f"{source}: {len(problems)} problem(s)\n" + "\n".join(f"  - {p}" for p in problems))


# ---- loading -------------------------------------------------------------------------------


def parse_override(text: str) -> tuple[list[str | int], Any]:
    """`executor.workers=2` -> (['executor', 'workers'], 2); values are YAML."""
    if "=" not in text:
        raise RecipeError([f"--set {text!r}: expected KEY=VALUE"], "command line")
    key, _, raw = text.partition("=")
    names = key.strip().split(".")
    if any(not n.strip() for n in names):
        raise RecipeError([f"--set {text}: empty key (expected e.g. executor.workers=2)"], "command line")
    try:
        value = load_yaml(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise RecipeError([f"--set {text}: value is not valid YAML: {_one_line(exc)}"], "command line") from None
    return [int(p) if p.strip().isdigit() else p.strip() for p in names], value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    for item in overrides:
        parts, value = parse_override(item)
        node: Any = data
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if isinstance(node, list):
                if not isinstance(part, int) or part >= len(node):
                    raise RecipeError([f"--set {item}: no index {part} in list"], "command line")
            elif isinstance(node, dict):
                if isinstance(part, int) and part not in node:
                    part = str(part)
                if not last and node.get(part) is None:
                    node[part] = [] if isinstance(parts[i + 1], int) else {}
            else:
                where = ".".join(str(p) for p in parts[:i])
                raise RecipeError([f"--set {item}: {where} is {_kind(node)}, not a mapping or list"], "command line")
            if last:
                node[part] = value
            else:
                node = node[part]
    return data


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    return {str: "a string", int: "a number", float: "a number"}.get(type(value), f"a {type(value).__name__}")


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


def read_yaml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.exists():
        raise RecipeError([f"recipe file not found: {p}"], str(p))
    try:
        data = load_yaml(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise RecipeError([f"not valid YAML: {exc}"], str(p)) from None
    except UnicodeDecodeError:
        raise RecipeError(["not UTF-8 text"], str(p)) from None
    if not isinstance(data, dict):
        raise RecipeError(["the top level must be a mapping with input, output, executor, steps"], str(p))
    return data


def load_recipe(path: str | Path, overrides: list[str] | None = None, check_input: bool = True) -> Recipe:
    data = read_yaml(path)
    if "process" in data and "steps" not in data:  # Data-Juicer's layout
        raise RecipeError([f"this is a Data-Juicer recipe (a `process` list); convert it first: pipeline convert-dj "
                           f"{path} --out NEW.yaml (add --lm MODEL_DIR if it filters by perplexity)"], str(path))
    data = apply_overrides(data, overrides or [])
    return validate_recipe(data, source=str(path), check_input=check_input)


def validate_recipe(data: dict[str, Any], source: str = "recipe", check_input: bool = True) -> Recipe:
    """Validate everything and raise one RecipeError listing every problem."""
    problems: list[str] = []
    steps_raw = data.get("steps", [])
    try:
        recipe = Recipe.model_validate({**data, "steps": []})
    except ValidationError as exc:
        recipe = None
        problems += [p for p in _pydantic_problems(exc) if not p.startswith("steps")]
    problems += _step_problems(steps_raw)
    if recipe is not None:
        problems += _column_problems(recipe.input)
    if recipe is not None and check_input:
        from pipeline.io.readers import InputError, list_shards

        try:
            with storage_defaults(recipe):  # the recipe's storage_options reach the input too
                list_shards(recipe.input)
        except InputError as exc:
            problems.append(f"input.path: {exc}")
        problems += _output_problems(recipe)
    if problems:
        raise RecipeError(problems, source)
    assert recipe is not None
    return recipe.model_copy(update={"steps": steps_raw})


def _output_problems(recipe: Recipe) -> list[str]:
    """Whether the output location can be written, before any work (a probe on an object store)."""
    from pipeline.output_store import check_writable

    with storage_defaults(recipe):
        problem = check_writable(recipe.output.path, recipe.storage_options)
    return [f"output.path: {problem}"] if problem else []


def _column_problems(spec: InputSpec) -> list[str]:
    """Text and id end up as two output columns: they cannot share a name."""
    if spec.id_column == spec.text_column:
        return [f"input.id_column: must differ from input.text_column ({spec.text_column!r})"]
    if spec.id_column is None and spec.text_column == "id":
        return ["input.text_column: 'id' is also where the document ids go; set input.id_column to another column"]
    return []


def _step_problems(steps: Any) -> list[str]:
    if steps is None:
        return []
    if not isinstance(steps, list):
        return ["steps: must be a list of {operator_name: {params}}"]
    problems = []
    for i, step in enumerate(steps):
        where = f"steps[{i}]"
        if isinstance(step, str):
            step = {step: {}}
            steps[i] = step
        if not isinstance(step, dict) or len(step) != 1:
            problems.append(f"{where}: must be a mapping with one operator name, e.g. {{words_filter: {{min_words: 50}}}}")
            continue
        (name, params), = step.items()
        if params is None:
            params = {}
            step[name] = params
        if not isinstance(params, dict):
            problems.append(f"{where}.{name}: parameters must be a mapping, got {type(params).__name__}")
            continue
        try:
            cls = registry.get(str(name))
        except registry.UnknownOperator as exc:
            problems.append(f"{where}: {exc}")
            continue
        try:
            cls(**params)
        except ValidationError as exc:
            problems += [f"{where}.{name}.{p}" if not p.startswith(":") else f"{where}.{name}{p}"
                         for p in _pydantic_problems(exc, known=list(cls.model_fields))]
        except (ValueError, TypeError) as exc:
            problems.append(f"{where}.{name}: {exc}")
    return problems


_MESSAGES = {
    "greater_than_equal": "must be >= {ge}",
    "greater_than": "must be > {gt}",
    "less_than_equal": "must be <= {le}",
    "less_than": "must be < {lt}",
    "missing": "required",
}


def _pydantic_problems(exc: ValidationError, known: list[str] | None = None) -> list[str]:
    out = []
    for err in exc.errors():
        loc = [str(x) for x in err["loc"] if not str(x).startswith("function-")]
        # drop pydantic's union-branch labels such as 'int' or 'constrained-int'
        loc = [x for x in loc if x not in {"int", "float", "str", "bool", "list[str]", "str-list", "none"}]
        path = ".".join(loc)
        etype = err["type"]
        ctx = err.get("ctx") or {}
        if etype == "extra_forbidden":
            hint = ""
            if known:
                close = difflib.get_close_matches(loc[-1], known, n=2, cutoff=0.5)
                hint = f" (did you mean {', '.join(close)}?)" if close else f" (known: {', '.join(known)})"
            msg = f"unknown parameter{hint}"
        elif etype in _MESSAGES:
            msg = _MESSAGES[etype].format(**ctx)
        else:
            msg = err["msg"]
            if "input" in err and etype.endswith("_type"):
                msg += f", got {type(err['input']).__name__} {err['input']!r}"
        out.append(f"{path}: {msg}" if path else f": {msg}")
    # a union gives one error per branch for the same path: keep the first per path
    seen: dict[str, str] = {}
    for p in out:
        seen.setdefault(p.split(": ", 1)[0], p)
    return list(seen.values())
