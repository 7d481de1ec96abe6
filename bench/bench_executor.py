"""Executor benchmark: documents/s and peak RSS (whole process tree) of `pipeline run` over
../shared/data/corpus_en with the first operators, 1 vs 2 workers, and 1 vs 16 shards, side by
side in one run. Usage: python bench/bench_executor.py [--repeat 2]"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from measure import measure_run  # noqa: E402

CORPUS = ROOT.parent / "shared" / "data" / "corpus_en"
STEPS = [{"normalize_text": {}}, {"text_length_filter": {"min_chars": 1}}, {"words_filter": {"min_words": 50}},
         {"exact_dedup": {}}]


def run_once(paths: list[str], workers: int, work: Path) -> dict:
    out = work / f"out-{workers}-{len(paths)}-{time.monotonic_ns()}"
    recipe = {"input": {"path": paths}, "output": {"path": str(out), "report": False},
              "executor": {"type": "local", "workers": workers}, "steps": STEPS}
    m = measure_run(recipe, work)
    stats = m["stats"]
    return {"docs": stats["input"]["documents"], "kept": stats["output"]["documents"], "wall": m["wall_s"],
            "docs_per_s": stats["input"]["documents"] / m["wall_s"], "peak_rss_gb": m["peak_rss_gb"]}


def _burn(n: int) -> float:
    t0 = time.perf_counter()
    x = 0
    for i in range(n):
        x += i * i
    return time.perf_counter() - t0


def cpu_ceiling(n: int = 20_000_000) -> float:
    """What 2 processes gain over 1 on pure CPU work here (2 vCPUs may share a core)."""
    import multiprocessing as mp

    t0 = time.perf_counter()
    _burn(n), _burn(n)
    serial = time.perf_counter() - t0
    with mp.get_context("fork").Pool(2) as pool:
        t0 = time.perf_counter()
        pool.map(_burn, [n, n])
        parallel = time.perf_counter() - t0
    return serial / parallel


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--only-workers", action="store_true", help="skip the 1-shard memory run")
    args = ap.parse_args()
    shards = sorted(str(p) for p in CORPUS.glob("part-*.parquet"))
    if not shards:
        raise SystemExit(f"no corpus at {CORPUS}")
    configs = {"1 worker, 16 shards": (shards, 1), "2 workers, 16 shards": (shards, 2), "1 worker, 1 shard": (shards[:1], 1)}
    if args.only_workers:
        configs.pop("1 worker, 1 shard")
    results: dict[str, list[dict]] = {k: [] for k in configs}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeat):  # interleaved, so drift on a shared machine hits all alike
            for name, (paths, workers) in configs.items():
                results[name].append(run_once(paths, workers, Path(tmp)))
    best = {k: max(v, key=lambda r: r["docs_per_s"]) for k, v in results.items()}
    peak = {k: min(r["peak_rss_gb"] for r in v) for k, v in results.items()}
    print("| run | documents | kept | wall s (best) | documents/s | peak RSS GB |")
    print("|---|---|---|---|---|---|")
    for k, r in best.items():
        print(f"| {k} | {r['docs']:,} | {r['kept']:,} | {r['wall']:.1f} | {r['docs_per_s']:,.0f} | {peak[k]:.2f} |")
    speedup = best["2 workers, 16 shards"]["docs_per_s"] / best["1 worker, 16 shards"]["docs_per_s"]
    print(f"\n2 workers / 1 worker: {speedup:.2f}x (target >= 1.8x; a pure-Python loop in 2 processes: "
          f"{cpu_ceiling():.2f}x on this machine now)")
    if "1 worker, 1 shard" in peak:
        rss = peak["1 worker, 16 shards"] / peak["1 worker, 1 shard"]
        print(f"peak RSS 16 shards / 1 shard (1 worker): {rss:.2f}x (target <= 1.2x)")


if __name__ == "__main__":
    main()
