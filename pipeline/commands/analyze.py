"""`pipeline analyze RECIPE --sample N`: statistics and candidate thresholds on a seeded sample."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.table import Table


def cmd_analyze(args: argparse.Namespace) -> int:
    from pipeline.cli import _fail, out
    from pipeline.recipe import load_recipe
    from pipeline.report.analysis import analyze, write_path_default
    from pipeline.report.analysis_report import write_analysis

    recipe = load_recipe(args.recipe, args.set)
    try:
        analysis = analyze(recipe, args.sample, args.seed, source=str(args.recipe))
    except ValueError as exc:
        return _fail(str(exc))
    for t in terminal_tables(analysis):
        out.print(t)
    for s in analysis.steps:
        if not s.evaluated:
            out.print(f"step {s.index} ({s.name}) not evaluated: {s.note}", highlight=False, soft_wrap=True)
    if not args.no_html:
        path = write_analysis(analysis, Path(args.out) if args.out else write_path_default(args.recipe))
        out.print(f"analysis: {path}")
    return 0


def _pct(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.2f}%" if whole else "-"


def _num(x: float) -> str:
    return f"{int(x):,}" if float(x).is_integer() else f"{x:.4g}"


def terminal_tables(a) -> list[Table]:
    from pipeline.report.analysis import statistic_columns
    from pipeline.report.columns import as_float
    from pipeline.report.sections import QUANTILES, quantiles

    n = a.n
    steps = Table(title=f"steps on a sample of {n:,} of {a.sample.corpus_documents:,} documents (seed {a.seed}); nothing removed")
    for col in ("step", "operator", "alone", "%", "after earlier", "% of step in", "s", "docs/s"):
        steps.add_column(col, justify="left" if col == "operator" else "right")
    for s in a.steps:
        if not s.evaluated:
            steps.add_row(str(s.index), s.name, "global: not evaluated", "", "", "", "", "")
            continue
        steps.add_row(str(s.index), s.name, f"{s.removed_alone:,}", _pct(s.removed_alone, n), f"{s.removed_after:,}",
                      _pct(s.removed_after, s.documents_in), f"{s.seconds:.2f}",
                      f"{n / s.seconds:,.0f}" if s.seconds > 0 else "-")
    stats = Table(title="statistics (quantiles over the sample)")
    stats.add_column("step", justify="right")
    stats.add_column("column")
    for q in QUANTILES:
        stats.add_column(f"p{round(q * 100)}", justify="right")
    for k, column in statistic_columns(a):
        qs = quantiles(as_float(a.table.column(column)))
        stats.add_row(str(k), column, *("-" if v is None else _num(v) for v in qs))
    cands = Table(title="candidate thresholds: documents one rule would remove (* = configured)")
    for col in ("step", "column", "keep if", "from", "alone", "%", "after earlier", "% of step in"):
        cands.add_column(col, justify="left" if col in ("column", "from") else "right")
    for st in a.studies:
        step_in = a.steps[st.step].documents_in
        for c in st.candidates:
            mark = "*" if c.origin == "configured" else ""
            rule = f"{'>=' if st.side == 'min' else '<='} {_num(c.value)}{mark}"
            cands.add_row(str(st.step), st.column, rule, c.origin, f"{c.removed_alone:,}", _pct(c.removed_alone, n),
                          f"{c.removed_after:,}", _pct(c.removed_after, step_in))
    return [steps, stats, cands]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "analyze", help="statistics and candidate thresholds of a recipe's filters on a sample",
        description="Compute every statistic of the recipe's filters on a seeded sample without removing "
                    "anything; print quantiles and how many documents each candidate threshold would remove "
                    "(alone and after the earlier steps), and write the same as one HTML file.")
    p.add_argument("recipe")
    p.add_argument("--sample", type=int, default=10_000, metavar="N", help="documents to sample (default 10000)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a recipe field")
    p.add_argument("--out", help="HTML path (default: analysis-<recipe name>.html in the current folder)")
    p.add_argument("--no-html", action="store_true", help="print the tables only")
    p.set_defaults(func=cmd_analyze)
