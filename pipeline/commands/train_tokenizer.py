"""`pipeline train-tokenizer`: train a tokenizer straight from input files (Parquet or JSONL),
with the same parameters, sampling and artifacts as the `train_tokenizer` recipe step."""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pyarrow costs ~0.2 s: every `pipeline` command imports this module for its parser
    import pyarrow as pa


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "train-tokenizer", help="train a tokenizer on input files",
        description="Train a tokenizer (bpe, wordpiece, unigram, sentencepiece_bpe, sentencepiece_unigram) on "
                    "Parquet/JSONL files. Writes tokenizer.json (+ tokenizer.model for SentencePiece), "
                    "tokenizer_config.json and summary.json/.md to OUT.")
    p.add_argument("inputs", nargs="+", help="files, folders or globs (local or s3://)")
    p.add_argument("--out", required=True, help="folder for the tokenizer files (replaced if present)")
    p.add_argument("--params", help="YAML: a mapping of train_tokenizer parameters, or a recipe whose "
                                    "train_tokenizer step gives them")
    p.add_argument("--algorithm", choices=["bpe", "wordpiece", "unigram", "sentencepiece_bpe", "sentencepiece_unigram"])
    p.add_argument("--vocab-size", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--max-documents", type=int)
    p.add_argument("--max-bytes", type=int)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="any other train_tokenizer parameter, e.g. byte_fallback=true or special_tokens=[a,b]")
    p.add_argument("--text-column", default="text")
    p.add_argument("--id-column", default=None)
    p.add_argument("--format", choices=["auto", "parquet", "jsonl"], default="auto")
    p.add_argument("--batch-size", type=int, default=1000)
    p.add_argument("--skip-bad-records", action="store_true",
                   help="skip unreadable records (counted in the output) instead of stopping at the first")
    p.set_defaults(func=cmd_train_tokenizer)


def _params(args: argparse.Namespace) -> dict[str, Any]:
    from pipeline.recipe import RecipeError, parse_override, read_yaml

    params: dict[str, Any] = {}
    if args.params:
        data = read_yaml(args.params)
        if "steps" in data:
            found = [s["train_tokenizer"] for s in data.get("steps") or [] if isinstance(s, dict) and "train_tokenizer" in s]
            if not found:
                raise RecipeError(["the recipe has no train_tokenizer step"], args.params)
            params.update(found[0] or {})
        else:
            params.update(data)
    for key, flag in (("algorithm", args.algorithm), ("vocab_size", args.vocab_size), ("seed", args.seed),
                      ("max_documents", args.max_documents), ("max_bytes", args.max_bytes)):
        if flag is not None:
            params[key] = flag
    for item in args.set:
        parts, value = parse_override(item)
        if len(parts) != 1:
            raise RecipeError([f"--set {item}: expected a train_tokenizer parameter name"], "command line")
        params[str(parts[0])] = value
    return params


def _build_op(params: dict[str, Any], out: Path) -> Any:
    from pydantic import ValidationError

    from operators.tokenizer.train import TrainTokenizer
    from pipeline.recipe import RecipeError

    params = {**params, "artifact": params.get("artifact", out.name or "tokenizer")}
    try:
        return TrainTokenizer(**params)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(x) for x in err["loc"])
            problems.append(f"{where}: {err['msg']}" if where else err["msg"])
        raise RecipeError(problems, "train-tokenizer parameters") from None


def cmd_train_tokenizer(args: argparse.Namespace) -> int:
    from operators.base import ShardInput
    from operators.tokenizer.evaluate import write_summary
    from operators.tokenizer.train import train_to_folder
    from pipeline.cli import console as console_err
    from pipeline.cli import out as console
    from pipeline.io.readers import InputError, Quarantined, list_shards, read_shard
    from pipeline.recipe import InputSpec

    out = Path(args.out).resolve()
    if out.is_dir() and any(out.iterdir()) and not (out / "summary.json").is_file():
        # the folder is replaced as a whole: never one that holds something else
        console_err.print(f"[bold red]error:[/] {out} exists and holds no tokenizer (no summary.json); "
                          "choose a new or empty folder", highlight=False, soft_wrap=True)
        return 1
    op = _build_op(_params(args), out)
    spec = InputSpec(path=list(args.inputs), text_column=args.text_column, id_column=args.id_column,
                     format=args.format, batch_size=args.batch_size)
    shards = list_shards(spec)
    skipped: set[tuple[str, int]] = set()

    def quarantine(rec: Quarantined) -> None:
        skipped.add((rec.file, rec.row))

    def inputs() -> Iterator[ShardInput]:
        for shard in shards:
            def batches(columns: list[str] | None, shard=shard) -> Iterator[pa.Table]:
                for table in read_shard(shard, spec, quarantine if args.skip_bad_records else None):
                    yield table.select(columns) if columns else table
            yield ShardInput(shard.index, shard.name, batches)

    started = time.perf_counter()
    phases: dict[str, float] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="train-tokenizer-") as work:
            summary = train_to_folder(op, inputs, out, Path(work), phases)
    except (ValueError, FileNotFoundError) as exc:
        if args.debug or isinstance(exc, InputError):
            raise
        console_err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        return 1
    seconds = time.perf_counter() - started
    if args.skip_bad_records:
        summary["training"]["skipped_records"] = len(skipped)
        write_summary(out, summary)
    held = summary.get("held_out") or {}
    console.print(f"[green]trained[/] {summary['algorithm']} tokenizer: vocabulary {summary['vocab_size']:,} "
                  f"on {summary['training']['documents']:,} documents ({summary['training']['bytes']:,} bytes) "
                  f"in {seconds:.1f} s (" + ", ".join(f"{k} {v:.1f} s" for k, v in phases.items()) + ")",
                  highlight=False)
    if held:
        console.print(f"held out ({held['documents']:,} documents): {held['bytes_per_token']} bytes/token, "
                      f"{held['tokens_per_word']} tokens/word, unknown {held['unknown_share']}, "
                      f"byte fallback {held['byte_fallback_share']}", highlight=False)
    if skipped:
        console.print(f"[yellow]skipped {len(skipped):,} unreadable records[/] (--skip-bad-records)", highlight=False)
    console.print(f"files: {out}/ " + ", ".join(summary["files"]), highlight=False)
    return 0
