"""`pipeline report OUTPUT_DIR`: write the single-file HTML report of a finished run."""

from __future__ import annotations

import argparse
from pathlib import Path


def cmd_report(args: argparse.Namespace) -> int:
    from pipeline.cli import _fail, out
    from pipeline.report import write_report
    from pipeline.report.run_data import ReportError

    try:
        path = write_report(args.output_dir, Path(args.out) if args.out else None)
    except ReportError as exc:
        return _fail(str(exc))
    out.print(f"report: {path}")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "report", help="write report.html for a finished run",
        description="Write one self-contained HTML file (no network) describing a finished run: funnel, "
                    "statistics with thresholds, languages, PII, time, examples of removed documents (scrubbed), "
                    "token budget, recipe and versions.")
    p.add_argument("output_dir", help="the run's output folder (holds stats.json)")
    p.add_argument("--out", help="where to write the HTML (default: OUTPUT_DIR/report.html)")
    p.set_defaults(func=cmd_report)
