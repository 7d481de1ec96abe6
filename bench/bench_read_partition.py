"""A spill partition read on local disk two ways: as `operators.dedup.spill.read_partition` reads a
local one (Arrow reads each file by its path) and as it reads one on a store (every file's bytes
through `storage.many.read_many`, parsed from memory): is one path for both free on local disk?

Each way runs in its own process (no allocator state shared), ways alternating, `--repeat` times.
A third way drops each file's bytes once parsed. Prints wall (best and median of `--reads`), CPU
and minor page faults per read, and the peak RSS over the process's after its imports.

    python bench/bench_read_partition.py --senders 16 --rows 250000 --reads 20 --repeat 3
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SCHEMA_FIELDS = [("h", "uint64"), ("k", "int64")]


def _schema():  # noqa: ANN202 - pyarrow imported late, as in the worker processes
    import pyarrow as pa

    return pa.schema([(name, getattr(pa, kind)()) for name, kind in SCHEMA_FIELDS])


def write_partition(folder: str, senders: int, rows: int) -> None:
    import numpy as np

    from operators.dedup import spill
    from storage.location import Location

    rng = np.random.default_rng(0)
    for s in range(senders):
        columns = {"h": rng.integers(0, 2**63, rows, dtype=np.uint64), "k": np.arange(rows, dtype=np.int64)}
        spill.write_partitioned(Location(folder), s, np.zeros(rows, np.int64), columns, 1)


def read(way: str, folder: str):  # noqa: ANN201
    import pyarrow as pa
    import pyarrow.parquet as pq

    from operators.dedup import spill
    from operators.workfiles import file_names, read_parquet
    from storage import many
    from storage.location import Location

    where = spill.part_dir(Location(folder), 0)
    names = file_names(where, "from", ".parquet")
    if way == "by path":
        return pa.concat_tables([read_parquet(where / name, schema=_schema()) for name in names])
    blobs = many.read_many([where / name for name in names])
    if way == "read_many":  # as read_partition reads a partition on a store
        return pa.concat_tables([pq.read_table(pa.BufferReader(blob), schema=_schema()) for blob in blobs])
    tables = []  # "read_many, each let go": a file's bytes dropped once parsed
    for i in range(len(blobs)):
        blob, blobs[i] = blobs[i], None
        tables.append(pq.read_table(pa.BufferReader(blob), schema=_schema()))
    return pa.concat_tables(tables)


def measure(way: str, folder: str, reads: int) -> dict:
    import pyarrow.parquet  # noqa: F401 - imported before the baseline of the peak

    import operators.dedup.spill  # noqa: F401
    import storage.many  # noqa: F401

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    read(way, folder)  # the page cache warm
    faults, cpu, walls = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.process_time(), []
    for _ in range(reads):
        start = time.perf_counter()
        read(way, folder)
        walls.append(time.perf_counter() - start)
    walls.sort()
    return {"way": way, "best_ms": walls[0] * 1e3, "median_ms": walls[len(walls) // 2] * 1e3,
            "cpu_ms": (time.process_time() - cpu) / reads * 1e3,
            "faults": (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) // reads,
            "peak_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss) >> 10}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--senders", type=int, default=16)
    parser.add_argument("--rows", type=int, default=250_000)
    parser.add_argument("--reads", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("WAY", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child[0], args.child[1], args.reads)))
        return
    with tempfile.TemporaryDirectory() as folder:
        write_partition(folder, args.senders, args.rows)
        for _ in range(args.repeat):
            for way in ("by path", "read_many", "read_many, each let go"):
                out = subprocess.run([sys.executable, __file__, "--reads", str(args.reads), "--child", way, folder],
                                     check=True, capture_output=True, text=True).stdout
                r = json.loads(out)
                print(f"{r['way']:>22}: best {r['best_ms']:.1f} ms, median {r['median_ms']:.1f} ms, "
                      f"cpu {r['cpu_ms']:.1f} ms, {r['faults']} page faults a read, peak +{r['peak_mb']} MB "
                      f"({args.senders} files x {args.rows} rows)")


if __name__ == "__main__":
    main()
