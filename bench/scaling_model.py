"""The scaling model: from one measured run's per-stage figures (stats.json `tasks`), the wall
time, store traffic and memory per task of a run of D documents on n nodes x c cores.

Inputs, per stage s of the measured run on D0 documents (a shard segment or a global step's
stage; pipeline/task_metrics.py): k0 tasks, T_s task seconds summed over its tasks, C_s CPU
seconds, B_s bytes read + written through system calls, M_s the largest task peak RSS.

  per-task overhead   o   = the smallest mean task time of any stage of the run (an upper bound
                            of a task's fixed cost: start, recipe, setup, marks)
  tasks at D          k_s = D / S            shard stages and segments (S = documents per shard)
                      k_s = P                partition stages (P = partitions: at least n*c, and
                                             at least D / a cap of documents per partition)
                      k_s = 1                global stages
  time per task       t_s = o + (T_s - k0*o) * (D / D0) / k_s      work linear in documents
                            (T_s: task seconds on the measured machine, or C_s for a core of
                            one's own: the cluster tables use C_s, the check on this machine T_s)
  waves               w_s = ceil(k_s / min(n*c, k_s))
  store traffic       V_s = B_s * D / D0                           bytes linear in documents
  stage wall          W_s = max(w_s * t_s, V_s / (min(n, k_s) * bw))   compute or node bandwidth
  run wall            W   = F + sum_s W_s + (k_total - k0_total) * d
                            F = the measured run's wall minus its own sum_s W_s (driver start,
                            planning, dispatch, stats), d = driver seconds per task beyond the
                            measured run's (the driver reads every shard's Parquet footer,
                            submits every task and reads every completion mark, one by one)
  memory per task     M_s                                          shard stages (batch-bounded),
                                                                   global stages (not extrapolated)
                      M_s + G_s * ((D / k_s) / (D0 / k0) - 1)      partition stages
                            G_s = the largest growth of RSS during one of its tasks (peak minus
                            the worker's RSS at the task's start); for figures without it,
                            M_s - m, m = the smallest task peak of the run. A lower bound
                            when the worker reused memory that earlier tasks had freed

Assumptions: every core runs one task at a time and stages are CPU-bound with a core each (the
measured task seconds are a core's; with more workers than cores, or a loaded machine, they
include waiting); the work and bytes of every stage grow linearly with documents (true of
hashing, bucketing and the filters; the component rounds grow with the number of candidate
pairs, linear for a corpus with the same duplicate structure); global stages run on one core
of one node; node bandwidth `bw` to the store is shared by the node's tasks, and I/O overlaps
compute within a stage (the stage takes the longer of the two); stages run one after the
other (each is a barrier). Reads served by the page cache are counted as store traffic, as they
would be on an object store.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Cluster:
    nodes: int
    cores: int  # per node: tasks running at once on a node
    bandwidth: float = 1e9  # bytes/s between one node and the store (~1 GB/s S3 per node)
    partitions: int | None = None  # None: max(measured, nodes * cores, documents / partition_documents)
    partition_documents: int | None = None  # most documents per partition task (bounds its memory)
    shard_documents: int | None = None  # None: as measured
    driver_seconds_per_task: float = 0.0  # driver time per task (fit by driver_seconds_per_task)
    basis: str = "task"  # "task": measured task seconds (this machine, its load); "cpu": CPU seconds (a free core)


def stage_inputs(run: dict[str, Any]) -> tuple[float, float, float]:
    """o (per-task overhead s), m (smallest task peak RSS), F (fixed run overhead s) of a run."""
    stages = [s for s in run["tasks"] if s["tasks"]]
    overhead = min(s["seconds"] / s["tasks"] for s in stages)
    base_rss = min(s["peak_rss_bytes"] for s in stages)
    own = Cluster(1, run["workers"], bandwidth=float("inf"))
    fixed = run["wall_seconds"] - sum(predict_stage(s, run["documents"], run["documents"], own, overhead, base_rss)["wall_s"]
                                      for s in stages)
    return overhead, base_rss, max(fixed, 0.0)


def task_count(stage: dict[str, Any], d: int, d0: int, cluster: Cluster) -> int:
    if stage["kind"] in ("segment", "shard"):
        per_shard = cluster.shard_documents or d0 / stage["tasks"]
        return max(1, math.ceil(d / per_shard))
    if stage["kind"] == "partition":
        cap = math.ceil(d / cluster.partition_documents) if cluster.partition_documents else 1
        return cluster.partitions or max(stage["tasks"], cluster.nodes * cluster.cores, cap)
    return 1


def predict_stage(stage: dict[str, Any], d: int, d0: int, cluster: Cluster, overhead: float,
                  base_rss: float) -> dict[str, Any]:
    k0 = stage["tasks"]
    k = task_count(stage, d, d0, cluster)
    scale = d / d0
    work = stage["seconds"] if cluster.basis == "task" else stage["cpu_seconds"]
    t = overhead + max(work - k0 * overhead, 0.0) * scale / k
    slots = min(cluster.nodes * cluster.cores, k)
    traffic = (stage["read_bytes"] + stage["write_bytes"]) * scale
    io_s = traffic / (min(cluster.nodes, k) * cluster.bandwidth)
    compute_s = math.ceil(k / slots) * t
    memory = stage["peak_rss_bytes"]
    if stage["kind"] == "partition":  # holds its partition: the growth scales with documents per task
        growth = stage["peak_growth_bytes"] if "peak_growth_bytes" in stage else memory - base_rss
        memory += growth * ((d / k) / (d0 / k0) - 1)
    return {"label": stage["label"], "kind": stage["kind"], "tasks": k, "task_s": t, "compute_s": compute_s,
            "io_s": io_s, "wall_s": max(compute_s, io_s), "cpu_s": stage["cpu_seconds"] * scale,
            "traffic_bytes": traffic, "peak_rss_bytes": memory}


def predict(run: dict[str, Any], d: int, cluster: Cluster) -> dict[str, Any]:
    """Predicted wall seconds, CPU seconds, store bytes and largest task memory for D documents."""
    overhead, base_rss, fixed = stage_inputs(run)
    stages = [predict_stage(s, d, run["documents"], cluster, overhead, base_rss) for s in run["tasks"] if s["tasks"]]
    tasks = sum(s["tasks"] for s in stages)
    extra_tasks = max(tasks - sum(s["tasks"] for s in run["tasks"]), 0)
    wall = fixed + sum(s["wall_s"] for s in stages) + extra_tasks * cluster.driver_seconds_per_task
    return {"documents": d, "nodes": cluster.nodes, "cores": cluster.cores, "wall_s": wall,
            "cpu_s": sum(s["cpu_s"] for s in stages), "traffic_bytes": sum(s["traffic_bytes"] for s in stages),
            "peak_rss_bytes": max(s["peak_rss_bytes"] for s in stages), "tasks": tasks,
            "overhead_per_task_s": overhead, "fixed_s": fixed, "stages": stages}


def driver_seconds_per_task(small: dict[str, Any], large: dict[str, Any]) -> float:
    """d fitted from two runs of one recipe: the growth of the fixed part F per extra task."""
    k_small, k_large = (sum(s["tasks"] for s in r["tasks"]) for r in (small, large))
    if k_large <= k_small:
        return 0.0
    return max((stage_inputs(large)[2] - stage_inputs(small)[2]) / (k_large - k_small), 0.0)
