"""Start-up of small runs (issue 17): wall seconds of whole `pipeline run` processes on a
one-document recipe, with 1 and 2 local workers (min / median / max over runs, interleaved).

  python bench/bench_startup.py [--runs 7] [--workers 1 2] [--keep DIR]

The recipe (one JSONL document; normalize_text, words_filter) is made in a temporary folder, or
in DIR with --keep, which also prints the command, to time it with another tool.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT = "A small document: it has enough words to pass the words filter, and nothing else to do."


def make_recipe(folder: Path, workers: int = 1) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "in.jsonl").write_text(json.dumps({"text": DOCUMENT}) + "\n")
    recipe = {
        "input": {"path": str(folder / "in.jsonl")},
        "output": {"path": str(folder / "out"), "report": False},
        "executor": {"type": "local", "workers": workers},
        "steps": [{"normalize_text": {}}, {"words_filter": {"min_words": 3}}],
    }
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def command(recipe: Path, workers: int) -> list[str]:
    return [sys.executable, "-m", "pipeline.cli", "run", str(recipe), "--quiet", "--fresh",
            "--set", f"executor.workers={workers}"]


def wall_seconds(cmd: list[str]) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--keep", type=Path, help="make the recipe in this folder and keep it")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        recipe = make_recipe(args.keep or Path(tmp))
        if args.keep:
            for w in args.workers:
                print(f"PYTHONPATH={ROOT} " + " ".join(command(recipe, w)))
        times: dict[int, list[float]] = {w: [] for w in args.workers}
        for w in args.workers:  # a warm-up run each: file caches, .pyc files
            wall_seconds(command(recipe, w))
        for _ in range(args.runs):
            for w in args.workers:
                times[w].append(wall_seconds(command(recipe, w)))
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("| workers | runs | wall s min | median | max |\n|---|---|---|---|---|")
    for w, ts in times.items():
        print(f"| {w} | {len(ts)} | {min(ts):.2f} | {statistics.median(ts):.2f} | {max(ts):.2f} |")


if __name__ == "__main__":
    main()
