"""Scaling: what a run of D documents costs on n nodes x c cores, from a measured run.

Commands (run from the project root; corpora under /tmp, never in the repository):

  corpus  --copies K --out DIR [--prefix FILES:DIR ...]
          K enciphered copies of corpus_en (bench/scaling_corpus.py: each copy keeps the
          corpus's lengths and near-duplicate structure, copies are not near-duplicates of each
          other), 10,000 documents per shard; --prefix links the first FILES shards into DIR.
  measure --recipe minhash|demo|FILE --input GLOB --work DIR --save FILE.json [--workers 2]
          run the recipe on the input and save its per-stage figures (stats.json `tasks`: per
          shard segment and per global stage: tasks, task seconds, CPU seconds, peak RSS per
          task, bytes read and written), wall time, documents and the machine's load (uptime).
  predict --figures FILE.json --docs D --nodes n --cores c [--bandwidth 1e9] [--partitions P]
          the model's prediction (bench/scaling_model.py, formula in its docstring), per stage.
  check   --small A.json --large B.json
          predict run B from run A on B's machine (1 node x B's workers) and compare.
  overhead --shards 1000 --work DIR --save FILE.json
          tiny shards through exact_dedup: the wall, driver CPU and task seconds per task.
  table   --figures FILE.json [--docs 1e9] [--nodes 10 100 1000] [--cores 16]
          the README's table: wall time, store traffic and memory per task.

The model (bench/scaling_model.py has it in full, with its assumptions), per stage s measured on
D0 documents with k0 tasks, T_s task (or C_s CPU) seconds, B_s bytes read + written:
  k_s = D / S (shard stages), max(n*c, D / 1M) (partition stages), 1 (global stages)
  t_s = o + (T_s - k0*o) * (D / D0) / k_s;  V_s = B_s * D / D0
  W_s = max(ceil(k_s / min(n*c, k_s)) * t_s,  V_s / (min(n, k_s) * bandwidth per node))
  W   = F + sum_s W_s + (extra tasks) * d      (F: the measured run's own fixed part; d: driver s/task)

The minhash recipe is `minhash_dedup` with its defaults and `partitions: 16` (rejected rows
not written); demo is configs/demo.yaml on the given input.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from measure import measure_run  # noqa: E402
from scaling_corpus import SOURCE, link_prefix, make_corpus  # noqa: E402
from scaling_model import Cluster, driver_seconds_per_task, predict  # noqa: E402

MINHASH_STEPS = [{"minhash_dedup": {"partitions": 16}}]


def recipe_for(name: str, input_glob: str, out: Path, workers: int) -> dict[str, Any]:
    if name == "minhash":
        recipe = {"steps": MINHASH_STEPS, "output": {"rejected": False}}
    else:
        recipe = yaml.safe_load(Path(ROOT / "configs" / "demo.yaml" if name == "demo" else name).read_text())
    recipe["input"] = {**recipe.get("input", {}), "path": input_glob, "text_column": "text", "id_column": "id"}
    recipe["output"] = {**recipe.get("output", {}), "path": str(out), "report": False}
    recipe["executor"] = {"type": "local", "workers": workers}
    return recipe


def machine() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal"))) * 1024
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_bytes": mem, "host": platform.node()}


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def cmd_measure(args: argparse.Namespace) -> None:
    out = Path(args.work) / "out"
    recipe = recipe_for(args.recipe, args.input, out, args.workers)
    load_before = uptime()
    started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    m = measure_run(recipe, Path(args.work))
    stats = m.pop("stats")
    figures = {"recipe": args.recipe, "steps": recipe["steps"], "input": args.input, "workers": args.workers,
               "documents": stats["input"]["documents"], "kept": stats["output"]["documents"],
               "wall_seconds": m["wall_s"], "pipeline_wall_seconds": stats["wall_seconds"],
               "tree_cpu_seconds": m["cpu_s"], "tree_peak_rss_bytes": m["peak_rss_gb"] * 1e9,
               "started": started, "load_before": load_before, "load_after": uptime(), "machine": machine(),
               "command": " ".join(sys.argv), "tasks": stats["tasks"],
               "metrics": {t["operator"]: t["metrics"] for t in stats["steps"]}}
    Path(args.save).parent.mkdir(parents=True, exist_ok=True)
    Path(args.save).write_text(json.dumps(figures, indent=1) + "\n")
    print(figures_table(figures))
    print(f"wall {m['wall_s']:.1f} s, {figures['documents']:,} documents; load {load_before} -> {figures['load_after']}")


def figures_table(run: dict[str, Any]) -> str:
    d = run["documents"]
    rows = ["| stage | kind | tasks | task s / Mdoc | CPU s / Mdoc | read B/doc | written B/doc | peak RSS / task |",
            "|---|---|---|---|---|---|---|---|"]
    for s in run["tasks"]:
        if s["tasks"]:
            rows.append(f"| {s['label']} | {s['kind']} | {s['tasks']:,} | {s['seconds'] / d * 1e6:,.1f} | "
                        f"{s['cpu_seconds'] / d * 1e6:,.1f} | {s['read_bytes'] / d:,.0f} | {s['write_bytes'] / d:,.0f} | "
                        f"{s['peak_rss_bytes'] / 1e6:,.0f} MB |")
    return "\n".join(rows)


def prediction_table(p: dict[str, Any]) -> str:
    rows = [f"{p['documents']:,} documents on {p['nodes']} x {p['cores']} cores: wall {p['wall_s']:,.0f} s "
            f"({p['wall_s'] / 3600:,.2f} h), CPU {p['cpu_s']:,.0f} s, store traffic {p['traffic_bytes'] / 1e9:,.1f} GB, "
            f"largest task {p['peak_rss_bytes'] / 1e9:,.2f} GB, {p['tasks']:,} tasks "
            f"(per-task overhead {p['overhead_per_task_s']:.2f} s, fixed {p['fixed_s']:.1f} s)",
            "| stage | tasks | s / task | compute s | I/O s | wall s | traffic GB | RSS / task |", "|---|---|---|---|---|---|---|---|"]
    for s in p["stages"]:
        rows.append(f"| {s['label']} | {s['tasks']:,} | {s['task_s']:,.2f} | {s['compute_s']:,.1f} | {s['io_s']:,.1f} | "
                    f"{s['wall_s']:,.1f} | {s['traffic_bytes'] / 1e9:,.2f} | {s['peak_rss_bytes'] / 1e6:,.0f} MB |")
    return "\n".join(rows)


def cluster_of(args: argparse.Namespace) -> Cluster:
    return Cluster(args.nodes, args.cores, args.bandwidth, args.partitions, args.partition_documents,
                   args.shard_documents, args.driver_seconds, args.basis)


def cmd_predict(args: argparse.Namespace) -> None:
    run = json.loads(Path(args.figures).read_text())
    print(prediction_table(predict(run, int(args.docs), cluster_of(args))))


def cmd_check(args: argparse.Namespace) -> None:
    small, large = (json.loads(Path(p).read_text()) for p in (args.small, args.large))
    d = 0.0
    if args.calibrate:  # a smaller run of the same recipe: fit the driver's time per task
        d = driver_seconds_per_task(json.loads(Path(args.calibrate).read_text()), small)
        print(f"driver seconds per task, fitted on {args.calibrate} and {args.small}: {d:.4f}")
    p = predict(small, large["documents"], Cluster(1, large["workers"], float("inf"), driver_seconds_per_task=d))
    print(prediction_table(p))
    measured = {s["label"]: s for s in large["tasks"]}
    print("\n| stage | task s predicted | measured | ratio | CPU s predicted | measured | ratio | GB predicted | measured "
          "| RSS predicted | measured |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for s in p["stages"]:
        m = measured[s["label"]]
        t_pred = s["task_s"] * s["tasks"]
        print(f"| {s['label']} | {t_pred:,.0f} | {m['seconds']:,.0f} | {m['seconds'] / max(t_pred, 1e-9):.2f} | "
              f"{s['cpu_s']:,.0f} | {m['cpu_seconds']:,.0f} | {m['cpu_seconds'] / max(s['cpu_s'], 1e-9):.2f} | "
              f"{s['traffic_bytes'] / 1e9:,.2f} | {(m['read_bytes'] + m['write_bytes']) / 1e9:,.2f} | "
              f"{s['peak_rss_bytes'] / 1e6:,.0f} MB | {m['peak_rss_bytes'] / 1e6:,.0f} MB |")
    cpu_measured = sum(s["cpu_seconds"] for s in large["tasks"])
    traffic = sum(s["read_bytes"] + s["write_bytes"] for s in large["tasks"])
    print(f"\nwall: predicted {p['wall_s']:,.0f} s, measured {large['wall_seconds']:,.0f} s (measured / predicted "
          f"{large['wall_seconds'] / p['wall_s']:.2f}); task CPU: predicted {p['cpu_s']:,.0f} s, measured "
          f"{cpu_measured:,.0f} s ({cpu_measured / p['cpu_s']:.2f}); traffic: predicted {p['traffic_bytes'] / 1e9:,.1f} GB, "
          f"measured {traffic / 1e9:,.1f} GB ({traffic / p['traffic_bytes']:.2f}); contention (task s / CPU s): "
          f"{contention(small):.2f} small run, {contention(large):.2f} large run")


def contention(run: dict[str, Any]) -> float:
    return sum(s["seconds"] for s in run["tasks"]) / sum(s["cpu_seconds"] for s in run["tasks"])


def cmd_table(args: argparse.Namespace) -> None:
    run = json.loads(Path(args.figures).read_text())
    print("| nodes x cores | wall | of which driver | CPU (core-h) | store traffic | largest task RSS | tasks |\n"
          "|---|---|---|---|---|---|---|")
    for n in args.nodes:
        p = predict(run, int(args.docs), Cluster(n, args.cores, args.bandwidth, args.partitions, args.partition_documents,
                                                 args.shard_documents, args.driver_seconds, basis="cpu"))
        driver = max(p["tasks"] - sum(s["tasks"] for s in run["tasks"]), 0) * args.driver_seconds
        print(f"| {n:,} x {args.cores} | {p['wall_s'] / 3600:,.2f} h | {driver / 3600:,.2f} h | {p['cpu_s'] / 3600:,.0f} | "
              f"{p['traffic_bytes'] / 1e12:,.1f} TB | {p['peak_rss_bytes'] / 1e9:,.2f} GB | {p['tasks']:,} |")


def cmd_overhead(args: argparse.Namespace) -> None:
    """Many tiny shards through exact_dedup, run in this process: wall and driver CPU per task."""
    import time

    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipeline.api import run

    work = Path(args.work)
    (work / "in").mkdir(parents=True, exist_ok=True)
    for i in range(args.shards):
        pq.write_table(pa.table({"id": [f"{i}-{j}" for j in range(5)], "text": [f"doc {i} {j}" for j in range(5)]}),
                       work / "in" / f"part-{i:05d}.parquet")
    load_before = uptime()
    cpu0, t0 = time.process_time(), time.perf_counter()
    result = run([{"exact_dedup": {"partitions": args.partitions}}], str(work / "in" / "*.parquet"), str(work / "out"),
                 workers=args.workers, fresh=True, report=False)
    wall, driver_cpu = time.perf_counter() - t0, time.process_time() - cpu0
    tasks = sum(t["tasks"] for t in result.stats["tasks"])
    task_seconds = sum(t["seconds"] for t in result.stats["tasks"])
    figures = {"shards": args.shards, "workers": args.workers, "tasks": tasks, "wall_seconds": wall,
               "driver_cpu_seconds": driver_cpu, "task_seconds": task_seconds,
               "wall_per_task": wall / tasks, "driver_cpu_per_task": driver_cpu / tasks,
               "task_seconds_per_task": task_seconds / tasks, "load_before": load_before, "load_after": uptime(),
               "command": " ".join(sys.argv)}
    Path(args.save).write_text(json.dumps(figures, indent=1) + "\n")
    print(json.dumps(figures, indent=1))


def cmd_corpus(args: argparse.Namespace) -> None:
    n = make_corpus(Path(args.out), args.copies, Path(args.source))
    print(f"{n:,} documents in {args.out}")
    for spec in args.prefix:
        files, folder = spec.split(":", 1)
        print(f"{link_prefix(Path(args.out), Path(folder), int(files)):,} documents in {folder}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    c = sub.add_parser("corpus")
    c.add_argument("--copies", type=int, required=True)
    c.add_argument("--out", required=True)
    c.add_argument("--source", default=str(SOURCE))
    c.add_argument("--prefix", nargs="*", default=[], help="FILES:DIR")
    m = sub.add_parser("measure")
    m.add_argument("--recipe", default="minhash")
    m.add_argument("--input", required=True)
    m.add_argument("--work", required=True)
    m.add_argument("--save", required=True)
    m.add_argument("--workers", type=int, default=2)
    for name in ("predict", "table"):
        p = sub.add_parser(name)
        p.add_argument("--figures", required=True)
        p.add_argument("--docs", type=float, default=1e9)
        p.add_argument("--cores", type=int, default=16)
        p.add_argument("--bandwidth", type=float, default=1e9, help="bytes/s per node to the store")
        p.add_argument("--driver-seconds", type=float, default=0.0, help="driver seconds per task")
        p.add_argument("--partition-documents", type=int, default=1_000_000,
                       help="at most this many documents per partition task (more partitions)")
        p.add_argument("--partitions", type=int)
        p.add_argument("--shard-documents", type=int)
        if name == "predict":
            p.add_argument("--basis", choices=["task", "cpu"], default="task")
            p.add_argument("--nodes", type=int, default=1)
        else:
            p.add_argument("--nodes", type=int, nargs="+", default=[10, 100, 1000])
    o = sub.add_parser("overhead")
    o.add_argument("--shards", type=int, default=1000)
    o.add_argument("--partitions", type=int, default=16)
    o.add_argument("--workers", type=int, default=2)
    o.add_argument("--work", required=True)
    o.add_argument("--save", required=True)
    k = sub.add_parser("check")
    k.add_argument("--small", required=True)
    k.add_argument("--large", required=True)
    k.add_argument("--calibrate", help="a smaller run of the same recipe, to fit the driver's seconds per task")
    args = ap.parse_args()
    {"corpus": cmd_corpus, "measure": cmd_measure, "predict": cmd_predict, "check": cmd_check,
     "table": cmd_table, "overhead": cmd_overhead}[args.command](args)


if __name__ == "__main__":
    main()
