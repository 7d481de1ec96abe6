"""Bench: `pipeline analyze --sample N` against one run of the same recipe over the same sample,
side by side in one process; optionally the time and peak memory of writing a finished run's report.

    .venv/bin/python bench/report_analyze.py configs/fineweb_like.yaml --sample 10000 [--run-dir OUT]

The machine is shared (2 cores): compare the numbers of one invocation, not absolute values.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from operators.base import DOC_KEY  # noqa: E402
from pipeline.recipe import load_recipe, validate_recipe  # noqa: E402
from pipeline.report import write_report  # noqa: E402
from pipeline.report.analysis import analyze  # noqa: E402
from pipeline.report.analysis_report import write_analysis  # noqa: E402
from pipeline.runner import run_recipe  # noqa: E402


def cpu_seconds() -> float:
    """User + system CPU of this process and its finished children (the run's worker)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("recipe")
    ap.add_argument("--sample", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--run-dir", help="a finished run: time `pipeline report` on it")
    args = ap.parse_args()
    recipe = load_recipe(args.recipe)
    with tempfile.TemporaryDirectory(prefix="bench-analyze-") as tmp:
        c0 = cpu_seconds()
        t0 = time.perf_counter()
        a = analyze(recipe, args.sample, args.seed, source=args.recipe)
        t1 = time.perf_counter()
        c1 = cpu_seconds()
        write_analysis(a, Path(tmp) / "analysis.html")
        t2 = time.perf_counter()
        c2 = cpu_seconds()
        analyze_total = t2 - t0

        # the same sampled documents as one input file, run through the same recipe (one worker, like analyze)
        sample_file = Path(tmp) / "sample.parquet"
        pq.write_table(a.sample.table.drop_columns([DOC_KEY]), sample_file)
        data = recipe.model_dump(mode="json")
        data["input"].update({"path": str(sample_file), "text_column": "text", "id_column": "id", "format": "parquet"})
        data["output"].update({"path": str(Path(tmp) / "run"), "report": False})
        data["executor"] = {"type": "local", "workers": 1}
        run = validate_recipe(data)
        c3 = cpu_seconds()
        t3 = time.perf_counter()
        result = run_recipe(run)
        run_seconds = time.perf_counter() - t3
        run_cpu = cpu_seconds() - c3
        write_report(result.out)  # what `pipeline run` does next by default
        report_seconds = time.perf_counter() - t3 - run_seconds
        report_cpu = cpu_seconds() - c3 - run_cpu

    print(f"recipe {args.recipe}; sample {a.n:,} of {a.sample.corpus_documents:,} documents")
    print(f"analyze total          {analyze_total:7.2f} s  (sampling {a.sample.seconds:.2f}, steps {a.steps_seconds:.2f}, "
          f"other {t1 - t0 - a.sample.seconds - a.steps_seconds:.2f}, html {t2 - t1:.2f})")
    print(f"run on the same sample {run_seconds:7.2f} s  (1 worker, no report; {result.kept:,} kept)")
    print(f"its report.html        {report_seconds:7.2f} s  (written by default at the end of `pipeline run`)")
    print(f"ratio analyze / run    {analyze_total / run_seconds:7.2f}  (wall); "
          f"analyze / (run + report) {analyze_total / (run_seconds + report_seconds):.2f}")
    print(f"CPU seconds            analyze {c2 - c0:.2f} (of which html {c2 - c1:.2f}), run {run_cpu:.2f}, "
          f"report {report_cpu:.2f}; ratios {(c2 - c0) / run_cpu:.2f} and {(c2 - c0) / (run_cpu + report_cpu):.2f}")
    kept_by_analysis = int(a.alive.sum())
    print(f"kept: analysis {kept_by_analysis:,} vs run {result.kept:,} (global steps are not evaluated by analyze)")

    if args.run_dir:
        stats = json.loads((Path(args.run_dir) / "stats.json").read_text())
        code = ("import sys, time; from pipeline.report import write_report; t = time.perf_counter(); "
                f"write_report({args.run_dir!r}, {str(Path(args.run_dir) / 'report-bench.html')!r}); "
                "print(time.perf_counter() - t)")
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             cwd=Path(__file__).resolve().parent.parent)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        size = (Path(args.run_dir) / "report-bench.html").stat().st_size
        print(f"report on {stats['input']['documents']:,} documents ({stats['output']['documents']:,} kept): "
              f"{float(out.stdout.strip()):.2f} s, peak RSS {max(peak, before) / 1024:.0f} MB, {size / 1e6:.2f} MB HTML; "
              f"the run itself took {stats['wall_seconds']:.1f} s")


if __name__ == "__main__":
    main()
