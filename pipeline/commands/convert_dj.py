"""`pipeline convert-dj`: a Data-Juicer recipe converted to one of ours, with a comment per step
on definition differences; steps that cannot be mapped are refused, one message each."""

from __future__ import annotations

import argparse
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipeline.dj_mapping import Context, Step, Unmappable, convert_step
from storage import files

# Top-level Data-Juicer keys the converter reads; the others are listed as ignored.
READ_KEYS = {"process", "dataset_path", "export_path", "np", "text_keys"}
PLACEHOLDER = "/path/to/your/"


@dataclass
class Conversion:
    steps: list[Step] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # one per unmappable step
    dropped: list[str] = field(default_factory=list)  # unmappable steps left out (--drop-unmappable)
    notes: list[str] = field(default_factory=list)
    text_column: str = "text"
    input_path: str | None = None
    output_path: str | None = None
    workers: int | None = None


def is_dj_recipe(data: Any) -> bool:
    """A Data-Juicer recipe has a `process` list and none of our top-level keys."""
    return isinstance(data, dict) and "process" in data and not {"steps", "input", "output"} & set(data)


def convert(data: dict[str, Any], lm: str | None = None, drop_unmappable: bool = False) -> Conversion:
    result = Conversion()
    process = data.get("process")
    if not isinstance(process, list) or not process:
        result.problems.append("process: a Data-Juicer recipe needs a non-empty `process` list")
        return result
    ctx = Context(lm=lm)
    if lm is not None and any(isinstance(e, dict) and "perplexity_filter" in e for e in process):
        result.notes.append(f"perplexity_filter uses the model in {lm}; train one with `pipeline train-lm "
                            f"<reference documents> --out {lm}` (see configs/perplexity.yaml).")
    for i, entry in enumerate(process):
        if isinstance(entry, str):
            entry = {entry: None}
        if not isinstance(entry, dict) or len(entry) != 1:
            result.problems.append(f"process[{i}]: expected one operator name with its parameters")
            continue
        (name, params), = entry.items()
        try:
            result.steps += convert_step(str(name), params, ctx)
        except Unmappable as exc:
            (result.dropped if drop_unmappable else result.problems).append(f"process[{i}] {name}: {exc}")
    text_keys = data.get("text_keys", "text")
    if isinstance(text_keys, list):
        if len(text_keys) != 1:
            result.problems.append(f"text_keys: {text_keys} names several text fields; one text column is processed here")
        text_keys = text_keys[0] if text_keys else "text"
    result.text_column = str(text_keys)
    for key, target in (("dataset_path", "input_path"), ("export_path", "output_path")):
        value = data.get(key)
        if isinstance(value, str) and not value.startswith(PLACEHOLDER):
            setattr(result, target, value)
    if isinstance(data.get("np"), int):
        result.notes.append(f"Data-Juicer ran with np: {data['np']} processes; set executor.workers for this machine.")
    ignored = sorted(set(data) - READ_KEYS)
    if ignored:
        result.notes.append(f"Ignored Data-Juicer settings: {', '.join(ignored)}.")
    return result


def render(conv: Conversion, source: str, input_path: str, output_path: str, workers: int) -> str:
    """Our recipe as YAML, with the origin in the header and comments above each step."""
    lines = [f"# Converted by `pipeline convert-dj` from the Data-Juicer recipe {source}.",
             "# Each step's comment says where its definition differs from Data-Juicer's operator."]
    lines += ["# input.path and output.path: point them at your data and output folder."]
    lines += _comment([*conv.notes, *(f"Not converted (--drop-unmappable): {d}" for d in conv.dropped)], "")
    head = {"input": {"path": input_path, "text_column": conv.text_column},
            "output": {"path": output_path, "rejected": True},
            "executor": {"type": "local", "workers": workers}}
    lines.append(yaml.safe_dump(head, sort_keys=False, allow_unicode=True).rstrip())
    lines.append("steps:")
    for step in conv.steps:
        lines += _comment(step.comments, "  ")
        body = yaml.safe_dump({step.name: step.params}, sort_keys=False, default_flow_style=None, allow_unicode=True,
                              width=110).rstrip()
        lines += ["  - " + body.splitlines()[0]] + ["    " + line for line in body.splitlines()[1:]]
    return "\n".join(lines) + "\n"


def _comment(texts: list[str], indent: str) -> list[str]:
    return [line for t in texts for line in textwrap.wrap(t, 116 - len(indent), initial_indent=f"{indent}# ",
                                                           subsequent_indent=f"{indent}#   ")]


def _check_lm(lm: str | None) -> str | None:
    if lm is None:
        return None
    from operators.lm.scoring import ModelFolderError, model_files

    try:
        model_files(Path(lm))
    except ModelFolderError as exc:
        raise Unmappable(f"--lm: {exc}") from None
    return lm


def cmd_convert_dj(args: argparse.Namespace) -> int:
    from pipeline.cli import _fail, console, out
    from pipeline.recipe import RecipeError, read_yaml

    data = read_yaml(args.recipe)
    if not is_dj_recipe(data):
        raise RecipeError(["not a Data-Juicer recipe (no `process` list); this project's recipes run as they are"],
                          args.recipe)
    try:
        lm = _check_lm(args.lm)
    except Unmappable as exc:
        return _fail(str(exc))
    conv = convert(data, lm, args.drop_unmappable)
    if conv.problems:
        raise RecipeError([*conv.problems, "nothing written; with --drop-unmappable the other steps are converted"],
                          f"{args.recipe} (Data-Juicer)")
    text = render(conv, args.source or args.recipe, args.input or conv.input_path or "data/*.parquet",
                  args.output or conv.output_path or f"out/{Path(args.recipe).stem}", args.workers)
    if args.out:
        path = Path(args.out)
        files.write_text(path, text)
        console.print(f"[green]converted[/] {args.recipe} -> {path}: {len(conv.steps)} steps"
                      + (f", {len(conv.dropped)} dropped" if conv.dropped else ""), highlight=False)
    else:
        out.print(text, end="", highlight=False, markup=False, soft_wrap=True)
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "convert-dj", help="convert a Data-Juicer recipe to this project's",
        description="Map a Data-Juicer recipe's operators and parameters to this project's (Data-Juicer's defaults "
                    "where the recipe omits a parameter), with a comment per step on definition differences. "
                    "Steps without a counterpart are refused, one message each.")
    p.add_argument("recipe", help="Data-Juicer recipe (YAML with a `process` list)")
    p.add_argument("--out", help="file to write (default: print to stdout)")
    p.add_argument("--lm", help="perplexity model folder from `pipeline train-lm` (needed by perplexity_filter)")
    p.add_argument("--input", help="input.path of the new recipe (default: Data-Juicer's dataset_path)")
    p.add_argument("--output", help="output.path of the new recipe (default: Data-Juicer's export_path)")
    p.add_argument("--workers", type=int, default=2, help="executor.workers (default 2)")
    p.add_argument("--source", help="how the header names the original (default: the recipe's path)")
    p.add_argument("--drop-unmappable", action="store_true",
                   help="convert the other steps and list the unmappable ones in the header instead of failing")
    p.set_defaults(func=cmd_convert_dj)
