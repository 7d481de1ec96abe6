"""Ray vs local executor on the same recipes, 2 CPUs each, side by side in one run.

Start-up is timed separately and excluded from both executors' run times: for Ray, `ray.init`
of a local instance with 2 CPUs (once); for local, starting its 2 pool processes (each run).
Ray's run times still include its workers' first imports; local "cold" adds its pool start. Runs are
interleaved (local, ray, local, ray...) so that drift on a shared machine hits both alike, and
the best of `--repeat` is reported. Every Ray output is checked equal to the local one.

Usage: python bench/bench_ray.py [--shards 8] [--repeat 2] [--recipes demo,minhash]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.executors.local import LocalBackend  # noqa: E402
from pipeline.executors.ray import RayBackend  # noqa: E402
from pipeline.recipe import validate_recipe  # noqa: E402
from pipeline.runner import run_recipe  # noqa: E402

CORPUS = Path(os.environ.get("PIPELINE_SHARED_DATA", ROOT.parent / "shared" / "data")) / "corpus_en"
RECIPES: dict[str, list[dict[str, Any]]] = {
    "demo": [{"normalize_text": {}}, {"text_length_filter": {"min_chars": 1}}, {"words_filter": {"min_words": 50}},
             {"exact_dedup": {}}],
    "minhash": [{"normalize_text": {}}, {"minhash_dedup": {}}],
}


def run_once(steps: list[dict[str, Any]], shards: list[str], out: Path, backend: Any) -> tuple[float, dict]:
    recipe = validate_recipe({"input": {"path": shards}, "output": {"path": str(out), "report": False},
                              "executor": {"type": "local", "workers": 2}, "steps": steps})
    started = time.perf_counter()
    result = run_recipe(recipe, backend=backend)
    return time.perf_counter() - started, result.stats


def warm_local_pool(backend: LocalBackend) -> float:
    """Start the local executor's 2 worker processes (spawn, imports); return the seconds taken."""
    started = time.perf_counter()
    pool = backend._get_pool()
    list(pool.map(time.sleep, [0.2, 0.2]))  # two overlapping calls: both processes start
    return time.perf_counter() - started - 0.2


def same_output(a: Path, b: Path) -> bool:
    names = sorted(p.name for p in a.glob("*.parquet"))
    return names == sorted(p.name for p in b.glob("*.parquet")) and all(
        pq.read_table(a / n).equals(pq.read_table(b / n)) for n in names)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--recipes", default="demo,minhash")
    args = ap.parse_args()
    shards = sorted(str(p) for p in CORPUS.glob("part-*.parquet"))[: args.shards]
    if not shards:
        raise SystemExit(f"no corpus at {CORPUS}")
    names = args.recipes.split(",")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a private local instance
    ray_backend = RayBackend(address=None, workers=2, progress=False)
    ray_backend.connect()
    startup = ray_backend.startup_seconds
    times: dict[tuple[str, str], list[float]] = {(n, e): [] for n in names for e in ("local", "local cold", "ray")}
    docs: dict[str, int] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp:
            for r in range(args.repeat):
                for name in names:
                    local_out, ray_out = Path(tmp) / f"{name}-local-{r}", Path(tmp) / f"{name}-ray-{r}"
                    local = LocalBackend(workers=2, progress=False)
                    try:
                        pool_start = warm_local_pool(local)
                        seconds, stats = run_once(RECIPES[name], shards, local_out, local)
                    finally:
                        local.close()
                    times[(name, "local")].append(seconds)
                    times[(name, "local cold")].append(seconds + pool_start)
                    seconds, ray_stats = run_once(RECIPES[name], shards, ray_out, ray_backend)
                    times[(name, "ray")].append(seconds)
                    docs[name] = stats["input"]["documents"]
                    if not same_output(local_out, ray_out) or stats["removed"] != ray_stats["removed"]:
                        raise SystemExit(f"{name}: Ray output differs from local")
    finally:
        ray_backend.close()
    print(f"{len(shards)} shards of corpus_en; 2 CPUs each; best of {args.repeat}; Ray start-up "
          f"(ray.init, local instance, 2 CPUs): {startup:.1f} s, not included below\n")
    print("| recipe | documents | local s | Ray s | local docs/s | Ray docs/s | Ray / local time | local cold s |")
    print("|---|---|---|---|---|---|---|---|")
    for name in names:
        lo, ra, cold = (min(times[(name, e)]) for e in ("local", "ray", "local cold"))
        print(f"| {name} | {docs[name]:,} | {lo:.1f} | {ra:.1f} | {docs[name] / lo:,.0f} | {docs[name] / ra:,.0f} | "
              f"{ra / lo:.2f}x (target <= 1.15x) | {cold:.1f} |")
    print("\nall runs:", {f"{n}/{e}": [round(t, 1) for t in v] for (n, e), v in times.items()})


if __name__ == "__main__":
    main()
