"""Many small input files: grouped into tasks (the default `input.rows_per_task`) vs one task a
file (`rows_per_task: 0`).

Prepares, under --dir (outside the repository), --files small files cut from corpus_en parts
(half Parquet, half JSONL, --docs documents each, in listing order alternating runs of each) and
two recipes that differ only in `rows_per_task`: `grouped` (the default, 10,000) and `per_file`
(0). Steps: normalize_text, gopher_quality_filter; with --dedup also exact_dedup (a global step:
its per-shard stage and the segment after it run on the same files). With --repeat N it times
them as whole `pipeline run` processes, interleaved (one warm-up pair first), prints medians and
the ratio, and checks that both give the same output bytes.

    python bench/bench_groups.py --dir /tmp/groupbench --repeat 5
    python bench/bench_groups.py --dir /tmp/groupbench --repeat 3 --executor ray
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from measure import output_digest, run_command  # noqa: E402

SHARED = Path(os.environ.get("PIPELINE_SHARED_DATA", ROOT.parent / "shared" / "data"))
STEPS = [{"normalize_text": {}}, {"gopher_quality_filter": {}}]
DEDUP = [{"exact_dedup": {}}]
RUN_OF = 50  # files of one format in a row


def prepare_files(folder: Path, corpus: Path, files: int, docs: int) -> Path:
    inputs = folder / f"in_{files}x{docs}"
    if inputs.exists() and len(list(inputs.iterdir())) == files:
        return inputs
    inputs.mkdir(parents=True, exist_ok=True)
    table = pa.concat_tables(pq.read_table(p, columns=["id", "text"])
                             for p in sorted(corpus.glob("part-*.parquet"))[:max(1, files * docs // 9000 + 1)])
    if table.num_rows < files * docs:
        raise SystemExit(f"corpus has {table.num_rows} rows, {files * docs} needed")
    for i in range(files):
        rows = table.slice(i * docs, docs)
        if (i // RUN_OF) % 2 == 0:
            pq.write_table(rows, inputs / f"f{i:05d}.parquet", compression="zstd")
        else:
            (inputs / f"f{i:05d}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows.to_pylist()))
    return inputs


def recipes(folder: Path, inputs: Path, executor: str, workers: int, dedup: bool) -> dict[str, Path]:
    out = {}
    tag = f"{executor}{'_dedup' if dedup else ''}"
    for name, rows_per_task in (("grouped", None), ("per_file", 0)):
        data = {"input": {"path": str(inputs), "id_column": "id",
                          **({"rows_per_task": rows_per_task} if rows_per_task is not None else {})},
                "output": {"path": str(folder / f"out_{name}_{tag}"), "report": False},
                "executor": {"type": executor, "workers": workers}, "steps": STEPS + (DEDUP if dedup else [])}
        out[name] = folder / f"{name}_{tag}.yaml"
        out[name].write_text(yaml.safe_dump(data, sort_keys=False))
    return out


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/groupbench"))
    parser.add_argument("--corpus", type=Path, default=SHARED / "corpus_en", help="corpus_en (SOURCES.md)")
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--docs", type=int, default=20, help="documents a file")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--executor", choices=("local", "ray"), default="local")
    parser.add_argument("--dedup", action="store_true", help="add exact_dedup (a global step)")
    parser.add_argument("--repeat", type=int, default=0, help="timed rounds (0: only prepare)")
    args = parser.parse_args()
    inputs = prepare_files(args.dir, args.corpus, args.files, args.docs)
    runs = recipes(args.dir, inputs, args.executor, args.workers, args.dedup)
    for name, recipe in runs.items():
        print(f"{name}: {' '.join(run_command(recipe))}")
    times: dict[str, list[float]] = {name: [] for name in runs}
    cpu: dict[str, list[float]] = {name: [] for name in runs}  # user + system of the run's waited-for processes
    load_start = os.getloadavg()[0]
    for round_ in range(args.repeat + 1 if args.repeat else 0):  # round 0: warm-up, not counted
        for name, recipe in runs.items():
            t0, c0 = time.perf_counter(), _children_cpu()
            subprocess.run(run_command(recipe), cwd=ROOT, check=True)
            if round_:
                times[name].append(time.perf_counter() - t0)
                cpu[name].append(_children_cpu() - c0)
    if args.repeat:
        med = {name: statistics.median(t) for name, t in times.items()}
        for name, t in times.items():
            print(f"{name}: median {med[name]:.2f} s (runs {', '.join(f'{x:.2f}' for x in t)}); "
                  f"CPU s median {statistics.median(cpu[name]):.2f}")
        pairs = sorted(p / g for p, g in zip(times["per_file"], times["grouped"], strict=True))
        print(f"per_file / grouped = {med['per_file'] / med['grouped']:.2f}x (pairs: median "
              f"{statistics.median(pairs):.2f}, {pairs[0]:.2f}-{pairs[-1]:.2f}); "
              f"load {load_start:.1f} -> {os.getloadavg()[0]:.1f}")
        outs = {name: Path(yaml.safe_load(recipe.read_text())["output"]["path"]) for name, recipe in runs.items()}
        stats = json.loads((outs["grouped"] / "stats.json").read_text())
        same = output_digest(outs["grouped"]) == output_digest(outs["per_file"])
        print(f"{stats['accounting']}; grouped and per_file: {'same bytes' if same else 'DIFFERENT OUTPUT'}")


if __name__ == "__main__":
    main()
