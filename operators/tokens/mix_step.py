"""The `mix` step: a mixture of the corpus by the values of a column (e.g. `source`), with
weights or target token counts per value. Downsampling drops documents by a seeded hash of the id;
upsampling repeats whole documents, at most `max_epochs` times per source. Documents are not
copied here: kept rows get `mix_copies` (how many times `tokenize` writes them), so the
accounting stays one row per input document. The arithmetic is in mix_plan.py.

Stages: count (per shard: documents and tokens per value and hash bucket), plan (once: targets,
whole repeats, boundary bucket), boundary (per shard: the boundary buckets' documents), finish
(once: exact thresholds, and the realized mixture as metrics).
"""

from __future__ import annotations

import json
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, PrivateAttr, model_validator

from operators.base import ID, TEXT, GlobalOperator, ShardInput, Stage, StageContext, StepResult, atomic_write_table
from operators.registry import register
from operators.tokens import keys as K
from operators.tokens import mix_plan as M
from operators.workfiles import file_names, read_parquet
from storage import files

COPIES = "mix_copies"
PLAN = "plan.json"


@register
class Mix(GlobalOperator):
    """Mix the corpus by the values of `column` with `weights` (shares of the output tokens) or
    `targets` (tokens per value); values left out or weighted 0 are removed (`mix:not_in_mixture`),
    documents not drawn are removed (`mix:downsampled`), and repeats go in `mix_copies`.

    With weights and no `total_tokens`, the total is the largest that repeats no source. Epochs
    per source are capped at `max_epochs` (default 4, after Muennighoff et al. 2023, "Scaling
    Data-Constrained Language Models"): a mixture that would need more is an error. Sizes are
    counted in `unit`: tokens (the `token_count` column, from a token_count step with the
    tokenizer of `tokenize`), bytes of text, or documents.
    """

    name = "mix"

    column: str = Field("source", description="the column whose values are mixed")
    weights: dict[str, float] | None = Field(None, description="share of the output per value (normalized)")
    targets: dict[str, int] | None = Field(None, description="output size per value, in `unit`")
    total_tokens: int | None = Field(None, ge=1, description="output size with weights (null: largest with no repeats)")
    max_epochs: float = Field(M.MUENNIGHOFF_EPOCHS, gt=0, description="most times a value's data may be repeated")
    unit: Literal["tokens", "bytes", "documents"] = Field("tokens", description="what sizes count")
    token_column: str = Field("token_count", description="tokens per document (unit: tokens)")
    seed: int = Field(0, ge=0, description="seed of the hash that draws documents")

    _plan: dict[str, Any] | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _check(self) -> Mix:
        if (self.weights is None) == (self.targets is None):
            raise ValueError("give weights or targets (one of them)")
        named = self.weights if self.weights is not None else self.targets
        assert named is not None
        negative = sorted(k for k, v in named.items() if v < 0)
        if negative:
            raise ValueError(f"negative {'weights' if self.weights is not None else 'targets'} for "
                             f"{', '.join(map(repr, negative))}")
        if not any(v > 0 for v in named.values()):
            raise ValueError("every weight/target is zero: the mixture would be empty")
        if self.targets is not None and self.total_tokens is not None:
            raise ValueError("total_tokens goes with weights; targets give the size per value already")
        return self

    def stages(self) -> list[Stage]:
        return [Stage("count", "shard", self._count), Stage("plan", "global", self._plan_stage),
                Stage("boundary", "shard", self._boundary), Stage("finish", "global", self._finish)]

    # ---- per batch: value, id hash and size -------------------------------------------------
    def _measure(self, batch: pa.Table) -> tuple[pa.Array, np.ndarray, np.ndarray]:
        if self.column not in batch.column_names:
            raise ValueError(f"mix: the input has no column {self.column!r}")
        values = batch.column(self.column).cast(pa.string())
        hashes = K.id_keys(batch.column(ID), self.seed, K.MIX)
        if self.unit == "documents":
            size = np.ones(batch.num_rows, dtype=np.int64)
        elif self.unit == "bytes":
            size = pc.fill_null(pc.binary_length(batch.column(TEXT)), 0).to_numpy().astype(np.int64)
        else:
            if self.token_column not in batch.column_names:
                raise ValueError(f"mix: unit tokens needs the column {self.token_column!r}: add a token_count step "
                                 "(with the tokenizer of the tokenize step) before mix, or set unit: bytes")
            counts = batch.column(self.token_column)
            if counts.null_count:
                raise ValueError(f"mix: column {self.token_column!r} has {counts.null_count} null values")
            size = counts.to_numpy().astype(np.int64)
        return values, hashes, size

    def _count(self, shard: ShardInput, ctx: StageContext) -> None:
        parts = []
        for batch in shard.batches(None):
            values, hashes, size = self._measure(batch)
            parts.append(pa.table({"value": values, "bucket": pa.array(hashes >> np.uint64(M.BUCKET_SHIFT)),
                                   "documents": pa.array(np.ones(len(size), np.int64)), "tokens": pa.array(size)}))
        table = _group(parts)
        atomic_write_table(table, ctx.workdir / "count" / f"{shard.index:06d}.parquet")

    def _plan_stage(self, ctx: StageContext) -> None:
        folder = ctx.workdir / "count"
        counts = _group([read_parquet(folder / name) for name in file_names(folder, suffix=".parquet")])
        present = {v: i for i, v in enumerate(sorted(x for x in set(counts.column("value").to_pylist()) if x is not None))}
        plans: dict[str, M.SourcePlan] = {}
        for value in present:
            rows = counts.filter(pc.equal(counts.column("value"), value))
            plans[value] = M.SourcePlan(int(pc.sum(rows.column("documents")).as_py()),
                                        int(pc.sum(rows.column("tokens")).as_py()), 0)
        available = {v: p.tokens for v, p in plans.items()}
        target = M.targets(available, self.weights, self.targets, self.total_tokens, self.column)
        for value, plan in plans.items():
            plan.target = target[value]
            M.full_copies(plan, value, self.max_epochs)
            rows = counts.filter(pc.equal(counts.column("value"), value))
            bucket = rows.column("bucket").to_numpy().astype(np.int64)
            docs = np.zeros(1 << M.BUCKET_BITS, np.int64)
            toks = np.zeros(1 << M.BUCKET_BITS, np.int64)
            np.add.at(docs, bucket, rows.column("documents").to_numpy())
            np.add.at(toks, bucket, rows.column("tokens").to_numpy())
            M.choose_bucket(plan, docs, toks)
        _write_plan(ctx, "plan_buckets.json", plans)

    def _boundary(self, shard: ShardInput, ctx: StageContext) -> None:
        plans = _read_plan(ctx, "plan_buckets.json")
        wanted = {v: p.bucket for v, p in plans.items() if p.bucket >= 0}
        parts = []
        for batch in shard.batches(None):
            values, hashes, size = self._measure(batch)
            vals = np.array(values.to_pylist(), dtype=object)
            bucket = (hashes >> np.uint64(M.BUCKET_SHIFT)).astype(np.int64)
            want = np.array([wanted.get(v, -2) for v in vals], dtype=np.int64)
            sel = want == bucket
            if sel.any():
                parts.append(pa.table({"value": pa.array(vals[sel], pa.string()), "hash": pa.array(hashes[sel]),
                                       "tokens": pa.array(size[sel])}))
        schema = pa.schema([("value", pa.string()), ("hash", pa.uint64()), ("tokens", pa.int64())])
        table = pa.concat_tables(parts) if parts else schema.empty_table()
        atomic_write_table(table, ctx.workdir / "boundary" / f"{shard.index:06d}.parquet")

    def _finish(self, ctx: StageContext) -> None:
        plans = _read_plan(ctx, "plan_buckets.json")
        folder = ctx.workdir / "boundary"
        names = file_names(folder, suffix=".parquet")
        found = pa.concat_tables([read_parquet(folder / name) for name in names]) if names else None
        for value, plan in plans.items():
            if plan.bucket < 0:
                continue
            rows = found.filter(pc.equal(found.column("value"), value)) if found is not None else None
            hashes = rows.column("hash").to_numpy() if rows is not None else np.zeros(0, np.uint64)
            tokens = rows.column("tokens").to_numpy() if rows is not None else np.zeros(0, np.int64)
            M.place_boundary(plan, hashes, tokens, self.max_epochs)
        _write_plan(ctx, PLAN, plans)
        total_after = sum(p.tokens_after for p in plans.values()) or 1
        for value, plan in plans.items():
            for metric, number in (("documents_before", plan.documents), ("tokens_before", plan.tokens),
                                   ("documents_after", plan.documents_after), ("tokens_after", plan.tokens_after),
                                   ("epochs", round(plan.epochs, 6)),
                                   ("share", round(plan.tokens_after / total_after, 6))):
                ctx.metrics[f"mix:{value}:{metric}"] += number

    # ---- per batch: copies ------------------------------------------------------------------
    def apply_shard(self, table: pa.Table, shard_index: int, ctx: StageContext) -> StepResult:
        if self._plan is None:
            self._plan = {v: (p.full_copies, p.threshold, p.target > 0) for v, p in _read_plan(ctx, PLAN).items()}
        if table.num_rows == 0:
            return StepResult(table.append_column(COPIES, pa.array([], pa.int32())))
        values, hashes, _size = self._measure(table)
        reasons = np.full(table.num_rows, None, dtype=object)
        copies = np.zeros(table.num_rows, dtype=np.int32)
        vals = np.array(values.to_pylist(), dtype=object)
        for value in set(vals.tolist()):
            rows = vals == value
            full, threshold, wanted = self._plan.get(value, (0, -1, False))
            if not wanted:
                reasons[rows] = "mix:not_in_mixture"
                continue
            extra = hashes[rows] <= np.uint64(threshold) if threshold >= 0 else np.zeros(int(rows.sum()), dtype=bool)
            copies[rows] = full + extra
        reasons[(copies == 0) & (reasons == None)] = "mix:downsampled"  # noqa: E711 - elementwise
        out = table.append_column(COPIES, pa.array(copies, pa.int32()))
        return StepResult(out, pa.array(reasons, pa.string()))


def _group(parts: list[pa.Table]) -> pa.Table:
    schema = pa.schema([("value", pa.string()), ("bucket", pa.uint64()), ("documents", pa.int64()),
                        ("tokens", pa.int64())])
    if not parts:
        return schema.empty_table()
    grouped = pa.concat_tables(parts).group_by(["value", "bucket"]).aggregate([("documents", "sum"), ("tokens", "sum")])
    table = pa.table({"value": grouped.column("value"), "bucket": grouped.column("bucket"),
                      "documents": grouped.column("documents_sum"), "tokens": grouped.column("tokens_sum")})
    return table.sort_by([("value", "ascending"), ("bucket", "ascending")])


def _write_plan(ctx: StageContext, name: str, plans: dict[str, M.SourcePlan]) -> None:
    files.write_text(ctx.workdir / name, json.dumps({v: p.to_json() for v, p in plans.items()}, indent=2, sort_keys=True))


def _read_plan(ctx: StageContext, name: str) -> dict[str, M.SourcePlan]:
    data = (ctx.workdir / name).read_json()
    return {v: M.SourcePlan(**{k: x for k, x in p.items() if k != "epochs"}) for v, p in data.items()}
