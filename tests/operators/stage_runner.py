"""Running a global operator's stages as an executor does (several shards, every stage task
through `Stage.run`, then `apply_shard`), with a work folder and an artifacts folder that are
Locations: a local folder or a bucket of the session's real S3 server (the `places` fixture of
tests/operators/conftest.py). Tests compare the two."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from operators.base import DOC_KEY, ID, SHARD_BITS, TEXT, GlobalOperator, ShardInput, StageContext
from storage import files
from storage.location import Location

WORDS = ("river market stone garden window paper silver morning letter bridge forest engine harbor candle "
         "meadow valley winter summer island mirror castle thunder pencil ladder anchor velvet orchard "
         "lantern compass blanket").split()


@dataclass
class Outcome:
    kept: pa.Table
    removed: list[tuple[str, str]]  # (id, reason), in corpus order
    metrics: dict[str, Any] = field(default_factory=dict)


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def shard_tables(texts: list[str], shards: int, extra: dict[str, list] | None = None) -> list[pa.Table]:
    """`texts` (and `extra` columns) cut into `shards` shards, with ids and `_doc_key`s as the executor gives them."""
    size = -(-len(texts) // shards)
    out = []
    for s in range(shards):
        lo, hi = s * size, min(len(texts), (s + 1) * size)
        columns = {TEXT: texts[lo:hi], ID: [f"d{i:05d}" for i in range(lo, hi)]}
        for name, values in (extra or {}).items():
            columns[name] = values[lo:hi]
        table = pa.table(columns)
        keys = pa.array([(s << SHARD_BITS) + r for r in range(hi - lo)], pa.int64())
        out.append(table.append_column(DOC_KEY, keys))
    return out


def _input(index: int, table: pa.Table, batch_rows: int) -> ShardInput:
    def batches(columns: list[str] | None) -> Iterator[pa.Table]:
        t = table.select(columns) if columns else table
        for start in range(0, max(t.num_rows, 1), batch_rows):
            yield t.slice(start, batch_rows)

    return ShardInput(index, f"shard-{index}", batches)


def run_stages(op: GlobalOperator, shards: list[pa.Table], workdir: Location, artifacts: Location,
               read_files: Callable | None = None, batch_rows: int = 64, stages: list[str] | None = None) -> Outcome:
    """Every stage (or those named in `stages`), then `apply_shard` on every batch."""
    ctx = StageContext(workdir=workdir, shard_names=[f"shard-{i}" for i in range(len(shards))], artifacts=artifacts,
                       read_files=read_files)
    inputs = [_input(i, t, batch_rows) for i, t in enumerate(shards)]
    ctx.shards = lambda: iter(inputs)
    op.bind_run(artifacts)
    op.ensure_setup()
    for stage in op.stages():
        if (stages is not None and stage.name not in stages) or stage.skipped(ctx):
            continue
        for task in stage.task_indices(list(range(len(shards)))):
            stage.run(task, inputs, ctx)
    op.bind(ctx)
    kept, removed = [], []
    for i, table in enumerate(shards):
        for start in range(0, table.num_rows, batch_rows):
            k, r, reasons = op.apply_shard(table.slice(start, batch_rows), i, ctx).split()
            kept.append(k)
            if reasons is not None:
                removed += list(zip(r.column(ID).to_pylist(), reasons.to_pylist()))
    metrics = {**dict(ctx.metrics), **op.pop_metrics()}
    return Outcome(pa.concat_tables(kept), removed, metrics)


def tree(where: Location) -> dict[str, bytes]:
    """Every file under a folder (local or remote): relative name -> bytes."""
    if not where.is_remote:
        root = where.path
        return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
    fs, inner = files.filesystem(where)
    found = [p for p, info in fs.find(inner, detail=True).items() if info["type"] == "file"]
    return {p[len(inner.rstrip("/")) + 1:]: fs.cat_file(p) for p in sorted(found)}
