"""The `pipeline` command: run, validate, ops, and commands that modules in
`pipeline/commands/` add (each defines `add_parser(subparsers)`)."""

from __future__ import annotations

import argparse
import atexit
import importlib
import json
import os
import pkgutil
import sys
import threading
import traceback
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

console = Console(stderr=True)
out = Console()
if not out.is_terminal:  # logs and pipes: wide enough for the summary table, never cut
    out = Console(width=120)


def _fail(msg: str, code: int = 1) -> int:
    console.print(f"[bold red]error:[/] {msg}", highlight=False, soft_wrap=True)
    return code


def _custom_steps(data: dict[str, Any]) -> dict[int, str]:
    """Steps naming a `module:Class`: importing one runs that module's code."""
    steps = data.get("steps")
    found = {}
    for i, step in enumerate(steps if isinstance(steps, list) else []):
        name = step if isinstance(step, str) else None
        if isinstance(step, dict) and len(step) == 1:
            name = next(iter(step))
        if isinstance(name, str) and ":" in name:
            found[i] = name
    return found


def cmd_validate(args: argparse.Namespace) -> int:
    """Validation runs no code named by the recipe: a recipe from someone else may name any module.
    Custom operators are imported (and their parameters checked) only with --allow-custom."""
    import re

    from pipeline.commands._storage_options import StorageOptionError, as_overrides
    from pipeline.recipe import RecipeError, apply_overrides, load_recipe, read_yaml, validate_recipe

    try:
        overrides = [*args.set, *as_overrides(args.storage_options)]
    except StorageOptionError as exc:
        return _fail(str(exc))
    data = apply_overrides(read_yaml(args.recipe), overrides)
    custom = {} if args.allow_custom else _custom_steps(data)
    if not custom:
        recipe = load_recipe(args.recipe, overrides)
        out.print(f"[green]ok[/]: {args.recipe}: {len(recipe.steps)} steps, input and parameters valid")
        return 0
    for i, name in custom.items():
        console.print(f"note: steps[{i}]: {name} not imported (validate runs no code named by a recipe); "
                      f"pass --allow-custom to import it and check its parameters", highlight=False, soft_wrap=True)
    kept = [i for i in range(len(data["steps"])) if i not in custom]

    def renumber(problem: str) -> str:  # steps[j] of the checked steps is steps[kept[j]] of the recipe
        return re.sub(r"^steps\[(\d+)\]", lambda m: f"steps[{kept[int(m.group(1))]}]", problem)

    try:
        recipe = validate_recipe({**data, "steps": [data["steps"][i] for i in kept]}, source=str(args.recipe))
    except RecipeError as exc:
        raise RecipeError([renumber(p) for p in exc.problems], exc.source) from None
    out.print(f"[green]ok[/]: {args.recipe}: {len(recipe.steps)} built-in steps, input and parameters valid; "
              f"{len(custom)} custom step(s) not checked")
    return 0


# the fsspec implementation a URL scheme loads (its import and client: ~0.6 s a process)
STORE_MODULES = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs", "abfs": "adlfs",
                 "abfss": "adlfs"}


def _fork_server_plan(args: argparse.Namespace) -> tuple[list[str], list[str]] | None:
    """When the recipe (with its --set overrides) asks for local worker processes that a fork
    server will make: the step names and store client modules that server should import once for
    all workers. Read without validating it, only a hint for starting that server early; the
    recipe is validated right after. A driver with no thread but its main one forks its workers
    directly (pipeline/executors/local.py), so the server is only worth starting when a path is a
    URL (an object store client runs an event-loop thread)."""
    from pathlib import Path

    import yaml

    from pipeline.recipe_yaml import load_yaml

    try:
        data = load_yaml(Path(args.recipe).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):  # load_recipe reports these
        return None
    if not isinstance(data, dict):
        return None
    executor = data.get("executor")
    spec = dict(executor) if isinstance(executor, dict) else {}
    paths: list[str] = []
    for section in ("input", "output"):
        value = data.get(section, {}).get("path") if isinstance(data.get(section), dict) else None
        paths += [str(v) for v in (value if isinstance(value, list) else [value]) if v is not None]
    for item in args.set:
        key, _, value = item.partition("=")
        if key.strip() in ("executor.type", "executor.workers"):
            spec[key.strip().split(".")[1]] = value.strip()
        if key.strip() in ("input.path", "output.path"):
            paths.append(value)
    workers = str(spec.get("workers", 1))
    pool = str(spec.get("type", "local")) == "local" and workers.isdigit() and int(workers) > 1
    urls = [p for p in paths if "://" in p and not p.startswith("file://")]
    if not (pool and urls):
        return None
    steps = data.get("steps") if isinstance(data.get("steps"), list) else []
    names = [str(next(iter(s))) if isinstance(s, dict) and len(s) == 1 else str(s) for s in steps]
    modules = sorted({STORE_MODULES[u.split("://", 1)[0]] for u in urls if u.split("://", 1)[0] in STORE_MODULES})
    return [n for n in names if ":" not in n], modules  # custom steps (module:Class) are not imported early


def cmd_run(args: argparse.Namespace) -> int:
    from pipeline.commands._storage_options import StorageOptionError, as_overrides
    from pipeline.recipe import load_recipe
    from pipeline.runner import run_recipe

    try:
        storage = as_overrides(args.storage_options)
    except StorageOptionError as exc:
        return _fail(str(exc))
    recipe = load_recipe(args.recipe, [*args.set, *storage])
    result = run_recipe(recipe, fresh=args.fresh, progress=not args.quiet)
    print_summary(result.stats)
    if recipe.output.report and not args.no_report:
        from pipeline.report import write_report

        path = write_report(result.out)
        out.print(f"report: {path}")
    return 0


def print_summary(stats: dict[str, Any]) -> None:
    table = Table(title="pipeline run", show_lines=False)
    for col in ("#", "operator", "in", "kept", "removed", "top reason", "s", "docs/s"):
        left = col in ("operator", "top reason")
        table.add_column(col, justify="left" if left else "right", no_wrap=col != "top reason")
    for t in stats["steps"]:
        top = max(t["removed"].items(), key=lambda kv: kv[1])[0].split(":", 1)[-1] if t["removed"] else ""
        secs = t["seconds"] + t.get("stage_seconds", 0.0)
        rate = f"{t['documents_in'] / secs:,.0f}" if secs > 0 else "-"
        table.add_row(str(t["index"]), t["operator"], f"{t['documents_in']:,}", f"{t['documents_out']:,}",
                      f"{t['documents_removed']:,}", top, f"{secs:.2f}", rate)
    out.print(table)
    q = sum(stats["input"]["quarantined"].values())
    out.print(f"{stats['accounting']}" + (f" (of which {q} quarantined)" if q else "")
              + f"; {stats['wall_seconds']:.1f} s; output: {stats['output']['path']}")


def cmd_ops(args: argparse.Namespace) -> int:
    from operators import registry

    if args.name:
        info = registry.describe(registry.get(args.name))
        if args.json:
            out.print_json(json.dumps(info, default=str))
            return 0
        # docstrings and descriptions are plain text: "[min, max]" is not rich markup
        out.print(Text.assemble((info["name"], "bold"), f" ({info['kind']})\n"))
        out.print(Text(_reflow(info["doc"]) + "\n"), highlight=False)
        table = Table("parameter", "type", "default", "description")
        for p in info["params"]:
            default = "required" if p["required"] else repr(p["default"])
            table.add_row(*(Text(str(v)) for v in (p["name"], p["type"], default, p["description"])))
        out.print(table)
        reasons = info.get("reasons")
        out.print(Text("reasons: " + (", ".join(reasons) if reasons else "none (removes no document)" if reasons == []
                                      else "not declared")), highlight=False)
        return 0
    infos = [registry.describe(registry.get(n)) for n in registry.names()]
    if args.json:
        out.print_json(json.dumps(infos, default=str))
        return 0
    table = Table("operator", "kind", "parameters (default)", "summary")
    for info in infos:
        params = ", ".join(f"{p['name']}={p['default']!r}" if not p["required"] else p["name"] for p in info["params"])
        table.add_row(*(Text(str(v)) for v in (info["name"], info["kind"], params, info["summary"])))
    out.print(table)
    return 0


def _reflow(doc: str) -> str:
    """Join a docstring's hard-wrapped lines into paragraphs (lists and indented lines stay)."""
    paragraphs = []
    for para in doc.split("\n\n"):
        lines = para.splitlines()
        if any(line.lstrip().startswith(("-", "*", "|")) or line.startswith(" ") for line in lines):
            paragraphs.append(para)
        else:
            paragraphs.append(" ".join(line.strip() for line in lines))
    return "\n\n".join(paragraphs)


def build_parser() -> argparse.ArgumentParser:
    from pipeline.commands import _storage_options

    parser = argparse.ArgumentParser(prog="pipeline", description="Prepare LLM pretraining data from YAML recipes.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run a recipe", description="Run a recipe; resumes unfinished work in its output folder.")
    p.add_argument("recipe")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe field, e.g. executor.workers=2 or steps.1.words_filter.min_words=10")
    p.add_argument("--fresh", action="store_true",
                   help="delete what an earlier run of this pipeline wrote in the output folder, and start over")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--no-report", action="store_true", help="do not write report.html")
    _storage_options.add_argument(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("validate", help="check a recipe without running it",
                       description="Report every problem in a recipe, each with its YAML path.")
    p.add_argument("recipe")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--allow-custom", action="store_true",
                   help="import the modules of custom operators (module:Class) to check them: runs their code")
    _storage_options.add_argument(p)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("ops", help="list operators, or show one", description="List operators with parameters and docs.")
    p.add_argument("name", nargs="?")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_ops)

    import pipeline.commands as commands

    for info in pkgutil.iter_modules(commands.__path__):
        if info.name.startswith("_"):  # shared helpers of the commands, not commands
            continue
        module = importlib.import_module(f"pipeline.commands.{info.name}")
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    plan = _fork_server_plan(args) if args.func is cmd_run else None
    if plan is not None:
        from pipeline.executors.local import start_fork_server

        start_fork_server(*plan)  # its imports (~0.6 s and the steps' own) overlap this process's, which follow
    from operators.registry import UnknownOperator
    from pipeline.errors import AccountingError, StepError, TaskFailed
    from pipeline.io.readers import InputError
    from pipeline.recipe import RecipeError

    try:
        return args.func(args)
    except RecipeError as exc:
        console.print(f"[bold red]invalid recipe[/] {exc.source}:", highlight=False)
        for p in exc.problems:
            console.print(f"  - {p}", highlight=False, soft_wrap=True)
        return 2
    except (InputError, UnknownOperator) as exc:
        if args.debug:
            traceback.print_exc()
        return _fail(str(exc))
    except (StepError, AccountingError, TaskFailed) as exc:
        if args.debug:
            traceback.print_exc()
        return _fail(f"{exc}\n(rerun with --debug for the traceback)" if not args.debug else str(exc))
    except KeyboardInterrupt:
        return _fail("interrupted; rerun the same command to resume", 130)
    except OSError as exc:  # the machine's trouble (disk, permissions), not a bug: one line
        if args.debug:
            traceback.print_exc()
        return _fail(f"{type(exc).__name__}: {exc}" + ("" if args.debug else "\n(rerun with --debug for the traceback)"))


def console_main() -> None:
    """The `pipeline` command: `main`, then an exit without the interpreter's teardown of every
    module (~0.13 s once pyarrow and pandas are loaded: a sixth of a one-document run). The atexit
    handlers still run (pools, temporary folders, logging, Ray); a non-daemon thread still running
    gets the usual exit, which waits for it, and so does a run under a profiler or a tracer."""
    code = main()
    if any(t is not threading.main_thread() and not t.daemon for t in threading.enumerate()):
        sys.exit(code)
    if sys.getprofile() is not None or sys.gettrace() is not None:  # a profiler or tracer writes its data after us
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said
            pass
    os._exit(code)


if __name__ == "__main__":
    console_main()
