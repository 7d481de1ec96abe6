"""`pipeline tokenize`: input files to training token files in one command. It runs a recipe
with the one `tokenize` step (so resume, quarantine, accounting and Ray work as in any run) and
checks the tokenizer before anything is written. Token files: OUT/artifacts/<artifact>/."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> None:
    from pipeline.commands import _storage_options

    p = subparsers.add_parser(
        "tokenize", help="tokenize input files into Megatron/Parquet token files",
        description="Tokenize Parquet/JSONL files (EOS after each document), shuffle them globally by a seeded "
                    "key and write Megatron-LM .bin/.idx and/or Parquet input_ids files with a tokens.json manifest "
                    "to OUT/artifacts/tokens/ (OUT is a run folder: rerun the same command to resume).")
    p.add_argument("inputs", nargs="+", help="files, folders or globs (local or s3://)")
    p.add_argument("--tokenizer", required=True, help="tokenizer.json, SentencePiece .model, or a folder holding one")
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument("--format", dest="formats", action="append", choices=["megatron", "parquet"],
                   help="output format (repeat for both; default megatron)")
    p.add_argument("--validation-fraction", type=float)
    p.add_argument("--validation-documents", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--max-tokens-per-file", type=int)
    p.add_argument("--add-bos", action="store_true")
    p.add_argument("--no-shuffle", action="store_true", help="keep corpus order")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="any other tokenize parameter, e.g. eos_token='</s>' or partitions=64")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--executor", choices=["local", "ray"], default="local")
    p.add_argument("--text-column", default="text")
    p.add_argument("--id-column", default=None)
    p.add_argument("--input-format", choices=["auto", "parquet", "jsonl"], default="auto")
    p.add_argument("--batch-size", type=int, default=1000)
    p.add_argument("--fresh", action="store_true", help="discard earlier work in OUT and start over")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    _storage_options.add_argument(p)
    p.set_defaults(func=cmd_tokenize)


def _params(args: argparse.Namespace) -> dict[str, Any]:
    from pipeline.recipe import RecipeError, parse_override

    params: dict[str, Any] = {"tokenizer": args.tokenizer}
    for key, value in (("formats", args.formats), ("validation_fraction", args.validation_fraction),
                       ("validation_documents", args.validation_documents), ("seed", args.seed),
                       ("max_tokens_per_file", args.max_tokens_per_file)):
        if value is not None:
            params[key] = value
    if args.add_bos:
        params["add_bos"] = True
    if args.no_shuffle:
        params["shuffle"] = False
    for item in args.set:
        parts, value = parse_override(item)
        if len(parts) != 1:
            raise RecipeError([f"--set {item}: expected a tokenize parameter name"], "command line")
        params[str(parts[0])] = value
    return params


def cmd_tokenize(args: argparse.Namespace) -> int:
    from operators.tokens.encoding import TokenizerError
    from pipeline.cli import _fail, console, out, print_summary
    from pipeline.commands._storage_options import StorageOptionError, parse
    from pipeline.recipe import storage_defaults, validate_recipe
    from pipeline.runner import run_recipe

    try:
        storage = parse(args.storage_options)
    except StorageOptionError as exc:
        return _fail(str(exc))
    recipe = validate_recipe({
        "storage_options": storage,
        "input": {"path": list(args.inputs), "text_column": args.text_column, "id_column": args.id_column,
                  "format": args.input_format, "batch_size": args.batch_size},
        "output": {"path": args.out if "://" in args.out else str(Path(args.out)), "report": False},
        "executor": {"type": args.executor, "workers": args.workers},
        "steps": [{"tokenize": _params(args)}],
    }, source="tokenize arguments")
    op = recipe.build_steps()[0]
    try:
        with storage_defaults(recipe):  # a tokenizer named by URL is reached with the given options
            op.ensure_setup()  # a tokenizer that cannot be used stops the command before anything is written
    except (TokenizerError, FileNotFoundError) as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        return 1
    result = run_recipe(recipe, fresh=args.fresh, progress=not args.quiet)
    if not args.quiet:
        print_summary(result.stats)
    folder = result.out / "artifacts" / op.artifact
    manifest = json.loads((folder / "tokens.json").read_text())
    for split, s in manifest["splits"].items():
        out.print(f"{split}: {s['documents']:,} documents, {s['tokens']:,} tokens ({manifest['dtype']}) in "
                  f"{len(s['files'])} file(s)", highlight=False)
    out.print(f"token files: {folder}/ (manifest tokens.json)", highlight=False)
    return 0
