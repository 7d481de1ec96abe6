"""One big input file as several tasks (input.rows_per_task): is it as fast as many small files?

Prepares, under --dir (outside the repository), corpus_en parts 0-15 concatenated into one
Parquet file (160,000 rows, a row group per part) and three recipes of the same shard-local steps:
`one_file_1w` (1 worker), `one_file_2w` (2 workers, the file cut into tasks), `files_2w` (the 16
files, 2 workers). With --repeat N it times them as whole processes, interleaved, and prints
medians and the ratios; every run's output is also compared with the first one's (same bytes).

    python bench/bench_split.py --dir /tmp/splitbench --repeat 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from measure import output_digest, run_command  # noqa: E402

SHARED = Path(os.environ.get("PIPELINE_SHARED_DATA", ROOT.parent / "shared" / "data"))
STEPS = [{"gopher_quality_filter": {}}, {"c4_quality_filter": {}}, {"fineweb_quality_filter": {}}]


def prepare(folder: Path, corpus: Path, rows_per_task: int | None) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    parts = [corpus / f"part-{i:05d}.parquet" for i in range(16)]
    big = folder / "corpus_en_160k.parquet"
    if not big.exists():
        with pq.ParquetWriter(big, pq.read_schema(parts[0]), compression="zstd") as writer:
            for part in parts:
                writer.write_table(pq.read_table(part))
    recipes = {}
    for name, path, workers in (("one_file_1w", str(big), 1), ("one_file_2w", str(big), 2),
                                ("files_2w", [str(p) for p in parts], 2)):
        data = {"input": {"path": path, "id_column": "id",
                          **({"rows_per_task": rows_per_task} if rows_per_task is not None else {})},
                "output": {"path": str(folder / f"out_{name}"), "report": False},
                "executor": {"type": "local", "workers": workers}, "steps": STEPS}
        recipes[name] = folder / f"{name}.yaml"
        recipes[name].write_text(yaml.safe_dump(data, sort_keys=False))
    return recipes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/splitbench"))
    parser.add_argument("--corpus", type=Path, default=SHARED / "corpus_en", help="corpus_en (SOURCES.md)")
    parser.add_argument("--rows-per-task", type=int, default=None, help="default: the recipe default")
    parser.add_argument("--repeat", type=int, default=0, help="timed rounds (0: only prepare)")
    args = parser.parse_args()
    recipes = prepare(args.dir, args.corpus, args.rows_per_task)
    for name, recipe in recipes.items():
        print(f"{name}: {' '.join(run_command(recipe))}")
    times: dict[str, list[float]] = {name: [] for name in recipes}
    for _ in range(args.repeat):
        for name, recipe in recipes.items():
            t0 = time.perf_counter()
            subprocess.run(run_command(recipe), cwd=ROOT, check=True)
            times[name].append(time.perf_counter() - t0)
    if args.repeat:
        med = {name: statistics.median(t) for name, t in times.items()}
        for name, t in times.items():
            print(f"{name}: median {med[name]:.1f} s (runs {', '.join(f'{x:.1f}' for x in t)})")
        print(f"one file: 1 worker / 2 workers = {med['one_file_1w'] / med['one_file_2w']:.2f}x")
        print(f"2 workers: one file / 16 files = {med['one_file_2w'] / med['files_2w']:.2f}x")
        kept = pq.read_metadata(args.dir / "out_one_file_2w" / "corpus_en_160k.parquet").num_rows
        same = output_digest(args.dir / "out_one_file_1w") == output_digest(args.dir / "out_one_file_2w")
        print(f"kept documents: {kept}; one file, 1 and 2 workers: {'same bytes' if same else 'DIFFERENT OUTPUT'}")


if __name__ == "__main__":
    main()
