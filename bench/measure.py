"""Run a command (or `pipeline run` on a recipe) as a subprocess and measure it: wall time, CPU
seconds and peak RSS of the whole process tree (driver and workers), sampled with psutil."""

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


def measure_command(cmd: list[str], env: dict[str, str] | None = None, cwd: Path = ROOT, stdout: Any = subprocess.DEVNULL,
                    stderr: Any = None, interval: float = 0.05) -> dict[str, Any]:
    """Run `cmd` to its end; wall seconds, CPU seconds and peak RSS of its process tree."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=stdout, stderr=stderr)
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
    return {"wall_s": time.perf_counter() - t0, "cpu_s": sum(cpu.values()), "peak_rss_gb": peak / 1e9,
            "peak_rss_one_process_gb": peak_one / 1e9, "returncode": proc.returncode}


def measure_run(recipe: dict[str, Any], work: Path, interval: float = 0.05) -> dict[str, Any]:
    """Run the recipe (its output.path must be set) and return the measurements and stats.json."""
    work.mkdir(parents=True, exist_ok=True)
    rpath = work / f"recipe-{time.monotonic_ns()}.yaml"
    rpath.write_text(yaml.safe_dump(recipe))
    m = measure_command([sys.executable, "-m", "pipeline.cli", "run", str(rpath), "--quiet"], interval=interval)
    if m.pop("returncode") != 0:
        raise SystemExit(f"run failed: {rpath}")
    m["stats"] = json.loads((Path(recipe["output"]["path"]) / "stats.json").read_text())
    return m


def run_command(recipe: Path) -> list[str]:
    """`pipeline run` of a recipe as the benches time it: fresh, quiet, no report."""
    return [sys.executable, "-m", "pipeline.cli", "run", str(recipe), "--fresh", "--quiet", "--no-report"]


def output_digest(out: Path) -> str:
    """A short hash of every output Parquet file (names and bytes), `_work/` aside: two runs that
    should write the same output compare equal."""
    import hashlib

    digest = hashlib.sha256()
    for f in sorted(p for p in out.rglob("*.parquet") if "_work" not in p.relative_to(out).parts):
        digest.update(str(f.relative_to(out)).encode())
        digest.update(f.read_bytes())
    return digest.hexdigest()[:16]
