"""Run `pipeline run` on a recipe as a subprocess and measure it: wall time, CPU seconds and
peak RSS of the whole process tree (driver and workers), sampled with psutil."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import yaml

ROOT = Path(__file__).resolve().parent.parent


def measure_run(recipe: dict[str, Any], work: Path, interval: float = 0.05) -> dict[str, Any]:
    """Run the recipe (its output.path must be set) and return the measurements and stats.json."""
    work.mkdir(parents=True, exist_ok=True)
    rpath = work / f"recipe-{time.monotonic_ns()}.yaml"
    rpath.write_text(yaml.safe_dump(recipe))
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "run", str(rpath), "--quiet"], cwd=ROOT,
                            stdout=subprocess.DEVNULL)
    root = psutil.Process(proc.pid)
    peak = peak_one = 0
    cpu: dict[int, float] = {}  # last CPU seconds seen per process of the tree
    while proc.poll() is None:
        try:
            procs = [root, *root.children(recursive=True)]
            rss = [p.memory_info().rss for p in procs]
            for p in procs:
                t = p.cpu_times()
                cpu[p.pid] = t.user + t.system
            peak, peak_one = max(peak, sum(rss)), max(peak_one, max(rss))
        except psutil.NoSuchProcess:
            pass  # a process ended between listing and reading: the next sample counts the rest
        time.sleep(interval)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"run failed ({proc.returncode}): {rpath}")
    stats = json.loads((Path(recipe["output"]["path"]) / "stats.json").read_text())
    return {"wall_s": wall, "cpu_s": sum(cpu.values()), "peak_rss_gb": peak / 1e9, "peak_rss_one_process_gb": peak_one / 1e9,
            "stats": stats}
