"""After connected components: the size of every cluster and the one document it keeps.

The keep rule of the near-dedup operators (keep.py): per cluster, the document with the
highest `keep_column` score, ties (and no keep column) to the smallest corpus order
(`_doc_key`). Two partition stages, no task holding more than its partition:

- gather: each partition reads its nodes' component labels (roots) and, with a keep column,
  their scores, and sends (root, node, score) to the root's partition;
- resolve: each partition groups by root, picks the winner, and sends (node, root, size,
  winner) back to the node's partition, where `cluster_lookup` finds them per shard.

minhash_dedup and simhash_dedup both use this module.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa
from pydantic import Field, PrivateAttr

from operators.base import DOC_KEY, SHARD_BITS, GlobalOperator, Stage, StageContext, StepResult, with_column
from operators.dedup.components import PartitionedComponents
from operators.dedup.keep import read_scores
from operators.dedup.spill import read_partition, shard_partition, write_partitioned

GATHER_SCHEMA = pa.schema([("root", pa.int64()), ("node", pa.int64()), ("score", pa.float64())])
RESOLVED_SCHEMA = pa.schema([("node", pa.int64()), ("root", pa.int64()), ("size", pa.int64()), ("winner", pa.int64())])


def gather(cc: PartitionedComponents, p: int, ctx: StageContext, keep_column: str | None) -> None:
    nodes, roots = cc.labels(p)
    if keep_column is not None:
        scores = read_scores(ctx.workdir, p, cc.partitions, ctx.num_shards, nodes)
    else:
        scores = np.zeros(len(nodes), dtype=np.float64)
    write_partitioned(ctx.workdir / "gather", p, cc.owner(roots), {"root": roots, "node": nodes, "score": scores},
                      cc.partitions)


def resolve(p: int, ctx: StageContext, partitions: int, metrics: Counter, prefix: str) -> None:
    t = read_partition(ctx.workdir / "gather", p, GATHER_SCHEMA)
    root = t.column("root").to_numpy()
    node = t.column("node").to_numpy()
    score = t.column("score").to_numpy()
    order = np.lexsort((node, -score, root))  # per root: best score first, then corpus order
    root, node = root[order], node[order]
    first = np.r_[True, root[1:] != root[:-1]] if len(root) else np.zeros(0, dtype=bool)
    starts = np.flatnonzero(first)
    group = np.cumsum(first) - 1
    sizes = np.diff(np.append(starts, len(root)))
    metrics[f"{prefix}:clusters"] += len(starts)
    metrics[f"{prefix}:documents_in_clusters"] += len(root)
    owner = shard_partition(node, ctx.num_shards, partitions)
    write_partitioned(ctx.workdir / "resolved", p, owner,
                      {"node": node, "root": root, "size": sizes[group], "winner": node[starts][group]}, partitions)


def cluster_lookup(shard_index: int, ctx: StageContext, partitions: int) -> tuple[np.ndarray, ...]:
    """(node, root, size, winner) of the shard's documents that are in a cluster, by node; a
    sentinel row no `_doc_key` equals when there are none."""
    p = int(shard_partition(np.array([shard_index << SHARD_BITS]), ctx.num_shards, partitions)[0])
    lo, hi = shard_index << SHARD_BITS, (shard_index + 1) << SHARD_BITS
    t = read_partition(ctx.workdir / "resolved", p, RESOLVED_SCHEMA)
    node = t.column("node").to_numpy()
    sel = (node >= lo) & (node < hi)
    if not sel.any():
        sentinel = np.array([-1], dtype=np.int64)
        return sentinel, sentinel, sentinel, sentinel
    order = np.argsort(node[sel])
    return tuple(t.column(c).to_numpy()[sel][order] for c in ("node", "root", "size", "winner"))


def decide(table: pa.Table, lookup: tuple[np.ndarray, ...], reason: str, cluster_columns: bool) -> StepResult:
    """Remove every clustered document but its cluster's winner; optionally add cluster_id
    (the cluster's smallest `_doc_key`) and cluster_size."""
    node, root, size, winner = lookup
    keys = table.column(DOC_KEY).to_numpy()
    pos = np.minimum(np.searchsorted(node, keys), len(node) - 1)
    found = node[pos] == keys
    removed = found & (winner[pos] != keys)
    if cluster_columns:
        table = with_column(table, "cluster_id", pa.array(np.where(found, root[pos], keys), pa.int64()))
        table = with_column(table, "cluster_size", pa.array(np.where(found, size[pos], 1), pa.int64()))
    return StepResult(table, pa.array(np.where(removed, reason, None), pa.string()))


class ClusterStages(GlobalOperator):
    """Base of the near-dedup operators: their shared parameters, and the stages after candidate
    pairs: partitioned connected components (components.py), the keep rule above, the filter."""

    keep_column: str | None = Field(None, description="keep the document with the highest value of this column; null: the first")
    cluster_columns: bool = Field(False, description="add cluster_id (smallest _doc_key) and cluster_size columns")
    partitions: int = Field(8, ge=1, le=4096, description="partitions of buckets and of the component rounds")
    cc_rounds: int = Field(8, ge=1, le=64, description="partitioned component rounds before finishing in one task")

    _cache: tuple | None = PrivateAttr(default=None)

    def _components(self, ctx: StageContext) -> PartitionedComponents:
        return PartitionedComponents(ctx.workdir / "components", self.partitions, ctx.num_shards, self.cc_rounds)

    def _round(self, r: int):
        def run(p: int, ctx: StageContext) -> None:
            self._components(ctx).run_round(r, p)

        run.__name__ = f"components_round_{r}"
        return run

    def _round_stages(self) -> list[Stage]:
        """The component rounds; those after the converging one are skipped whole (each of their
        tasks would only write a flag saying so: on a store, several requests a task for nothing)."""

        def skip(r: int):
            return lambda ctx: self._components(ctx).converged_round(r) is not None

        return [Stage(f"components_{r}", "partition", self._round(r), partitions=self.partitions, skip=skip(r))
                for r in range(self.cc_rounds)]

    def _finish(self, ctx: StageContext) -> None:
        for k, v in self._components(ctx).finish().items():
            ctx.metrics[f"{self.name}:{k}"] += v

    def _gather(self, p: int, ctx: StageContext) -> None:
        gather(self._components(ctx), p, ctx, self.keep_column)

    def _resolve(self, p: int, ctx: StageContext) -> None:
        resolve(p, ctx, self.partitions, ctx.metrics, self.name)

    def apply_shard(self, table: pa.Table, shard_index: int, ctx: StageContext) -> StepResult:
        tag = (str(ctx.workdir), shard_index)
        if self._cache is None or self._cache[0] != tag:
            self._cache = (tag, cluster_lookup(shard_index, ctx, self.partitions))
        return decide(table, self._cache[1], f"{self.name}:duplicate", self.cluster_columns)

