"""`pipeline report OUTPUT_DIR`: write the single-file HTML report of a finished run."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from storage.location import Location


def cmd_report(args: argparse.Namespace) -> int:
    from pipeline.cli import _fail, out
    from pipeline.commands import _storage_options
    from pipeline.output_store import describe_store_error, store_errors
    from pipeline.report import write_report
    from pipeline.report.run_data import ReportError
    from storage import files
    from storage.location import Location

    try:
        options = _storage_options.parse(args.storage_options)
    except _storage_options.StorageOptionError as exc:
        return _fail(str(exc))
    folder = Location(args.output_dir, options)
    target = Location(args.out, options) if args.out else None
    try:
        # the options also reach the URLs the run's recipe names (models on the same store)
        with files.default_options(options, _protocols(folder, target)):
            path = write_report(folder, target)
    except ReportError as exc:
        return _fail(str(exc))
    except store_errors() as exc:  # the store unreachable, the credentials wrong: one line
        return _fail(f"cannot make the report of {folder}: {describe_store_error(exc)}; check that the store is "
                     f"reachable and its settings (--storage-option KEY=VALUE, or AWS_* variables)")
    out.print(f"report: {path}")
    return 0


def _protocols(*where: Location | None) -> set[str]:
    from storage import files

    return {files.split_protocol(w.url)[0] for w in where if w is not None and w.is_remote}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from pipeline.commands import _storage_options

    p = subparsers.add_parser(
        "report", help="write report.html for a finished run",
        description="Write one self-contained HTML file (no network) describing a finished run: funnel, "
                    "statistics with thresholds, languages, PII, time, examples of removed documents (scrubbed), "
                    "token budget, recipe and versions.")
    p.add_argument("output_dir", help="the run's output folder (holds stats.json)")
    p.add_argument("--out", help="where to write the HTML (default: OUTPUT_DIR/report.html)")
    _storage_options.add_argument(p)
    p.set_defaults(func=cmd_report)
