"""What the driver sends a task: pickled bytes per task and the driver's time to pickle a
segment's tasks, for many tiny input files (issue 14: task arguments must not carry the file list).

Writes --files tiny JSONL files under --dir (outside the repository), then runs the real runner
with a backend that pickles every task of the first map (what an executor does to submit it),
unpickles it (what a worker does), records bytes and times, and stops the run there. Two recipes:
`shard`: normalize_text, exact_dedup (the first map: segment 0's shard tasks); `stage`:
exact_dedup, normalize_text (the first map: exact_dedup's per-shard stage tasks). Each with
`rows_per_task: 0` (a task a file) and the default (small files grouped, pipeline/groups.py).
At most --sample tasks a map are pickled (spread over it); totals are scaled to all its tasks.
`run start to first map` includes the sampled pickling.

    python bench/bench_task_args.py --dir /tmp/taskargs --files 20000
"""

from __future__ import annotations

import argparse
import pickle
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.executors.base import Backend, Task  # noqa: E402
from pipeline.recipe import validate_recipe  # noqa: E402
from pipeline.runner import run_recipe  # noqa: E402


class FirstMap(Exception):
    """Ends the run after the first map was measured."""


class PicklingBackend(Backend):
    """Pickles and unpickles each task of the first map, as a process pool or Ray would, then stops."""

    def __init__(self, sample: int) -> None:
        self.sample = sample
        self.tasks = 0
        self.sizes: list[int] = []
        self.dump_seconds = 0.0
        self.load_seconds = 0.0

    def map(self, tasks: list[Task], label: str) -> list[dict[str, Any]]:
        self.tasks = len(tasks)
        step = max(1, len(tasks) // self.sample)  # every step-th task, spread over the list
        for task in tasks[::step][:self.sample]:
            t0 = time.perf_counter()
            data = pickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL)
            t1 = time.perf_counter()
            pickle.loads(data)
            self.load_seconds += time.perf_counter() - t1
            self.dump_seconds += t1 - t0
            self.sizes.append(len(data))
        raise FirstMap(label)


def write_files(folder: Path, files: int) -> Path:
    inputs = folder / f"in_{files}"
    if inputs.exists() and len(list(inputs.iterdir())) == files:
        return inputs
    inputs.mkdir(parents=True, exist_ok=True)
    for i in range(files):
        (inputs / f"f{i:05d}.jsonl").write_text(f'{{"id": "d{i}", "text": "document number {i}"}}\n')
    return inputs


def measure(inputs: Path, out: Path, steps: list[dict[str, Any]], rows_per_task: int | None,
            sample: int) -> dict[str, Any]:
    shutil.rmtree(out, ignore_errors=True)
    spec: dict[str, Any] = {"path": str(inputs / "*.jsonl")}
    if rows_per_task is not None:
        spec["rows_per_task"] = rows_per_task
    recipe = validate_recipe({"input": spec, "output": {"path": str(out)}, "steps": steps,
                              "executor": {"type": "local", "workers": 1}})
    backend = PicklingBackend(sample)
    t0 = time.perf_counter()
    try:
        run_recipe(recipe, backend=backend)
    except FirstMap:
        pass
    wall = time.perf_counter() - t0
    sizes, scale = backend.sizes, backend.tasks / len(backend.sizes)  # scale > 1: totals extrapolated
    return {"tasks": backend.tasks, "sampled": len(sizes), "median_bytes": statistics.median(sizes),
            "max_bytes": max(sizes), "total_mb": sum(sizes) * scale / 1e6, "dump_s": backend.dump_seconds * scale,
            "load_s": backend.load_seconds * scale, "driver_to_first_map_s": wall}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--files", type=int, default=20000)
    parser.add_argument("--sample", type=int, default=500, help="tasks pickled a map (totals scaled to all)")
    args = parser.parse_args()
    inputs = write_files(args.dir, args.files)
    recipes = {"shard": [{"normalize_text": {}}, {"exact_dedup": {}}],
               "stage": [{"exact_dedup": {}}, {"normalize_text": {}}]}
    print("| tasks of | rows_per_task | tasks (pickled) | bytes a task (median / max) | all tasks MB | pickle s | unpickle s "
          "| run start to first map s |")
    print("|---|---|---|---|---|---|---|---|")
    for kind, steps in recipes.items():
        for rows in (0, None):
            m = measure(inputs, args.dir / "out", steps, rows, args.sample)
            print(f"| {kind} | {'default' if rows is None else rows} | {m['tasks']:,} ({m['sampled']:,}) | "
                  f"{m['median_bytes']:,.0f} / {m['max_bytes']:,} | {m['total_mb']:,.1f} | {m['dump_s']:.2f} | "
                  f"{m['load_s']:.2f} | {m['driver_to_first_map_s']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
