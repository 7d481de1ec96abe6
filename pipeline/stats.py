"""Merges the per-shard and per-stage completion marks into stats.json, and checks that every
input document is kept or removed with a reason: `input = kept + sum(removed)`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from operators.base import GlobalOperator, Operator
from pipeline.errors import AccountingError
from pipeline.io.readers import Shard
from pipeline.plan import Layout, Segment
from pipeline.recipe import Recipe
from pipeline.task_metrics import summarize as summarize_tasks
from storage.location import Location, read_marks

COUNT_FIELDS = ("documents_in", "documents_out", "bytes_in", "bytes_out", "chars_in", "chars_out", "seconds")


def build_stats(recipe: Recipe, layout: Layout, steps: list[Operator], segments: list[Segment], shards: list[Shard],
                wall_seconds: float, written: dict[str, Any] | None = None) -> dict[str, Any]:
    """The accounting from every completion mark; `written`: marks this process's tasks wrote and
    returned (by URL), which are not read back (on a store, a request each)."""
    marks = _mark_reader(written or {})
    step_totals: list[dict[str, Any]] = [
        {"index": k, "operator": op.name, "kind": op.kind, **{f: 0 for f in COUNT_FIELDS},
         "removed": Counter(), "metrics": Counter(), "stage_seconds": 0.0, "stages": {}}
        for k, op in enumerate(steps)
    ]
    shard_rows = []
    shard_seconds: Counter = Counter()
    shard_inputs: Counter = Counter()
    quarantined: Counter = Counter()
    input_docs = 0
    kept = 0
    segment_marks: dict[int, list[dict[str, Any]]] = {}
    stage_marks: dict[int, list[dict[str, Any]]] = {}
    # every mark in one batch of requests (on a store their latencies would add up one by one)
    seg_marks = iter(marks([layout.segment_done(seg, shard.name) for seg in segments for shard in shards]))
    for seg in segments:
        for shard in shards:
            s = next(seg_marks)
            if s is None:
                raise AccountingError(f"shard {shard.name} has no completion mark for segment {seg.index}")
            segment_marks.setdefault(seg.index, []).append(s)
            if seg.index == 0:
                input_docs += s["documents_in"]
                shard_inputs[shard.name] = s["documents_in"]
                quarantined.update(s["quarantined"])
            if seg.last:
                kept += s["documents_out"]
                shard_rows.append({"shard": shard.name, "path": shard.path, "documents_in": shard_inputs[shard.name],
                                   "documents_out": s["documents_out"],
                                   "files": s["files"]})
            for k, c in s["steps"].items():
                t = step_totals[int(k)]
                for f in COUNT_FIELDS:
                    t[f] += c[f]
                t["removed"].update(c["removed"])
                t["metrics"].update(c["metrics"])
            shard_seconds[shard.name] += s["seconds"]
    places = _stage_mark_places(layout, steps)
    for (k, mark), s in zip(places, marks([m for _, m in places]), strict=True):
        if s is None:
            raise AccountingError(f"stage mark {mark} vanished while the run's stats were read")
        stage_marks.setdefault(k, []).append(s)
        t = step_totals[k]
        t["stage_seconds"] += s["seconds"]
        t["stages"][s["stage"]] = t["stages"].get(s["stage"], 0.0) + s["seconds"]
        t["metrics"].update(s["metrics"])
    for row in shard_rows:
        row["seconds"] = shard_seconds[row["shard"]]
    removed_total = sum(sum(t["removed"].values()) for t in step_totals) + sum(quarantined.values())
    if input_docs != kept + removed_total:
        raise AccountingError(f"{input_docs} documents in, but {kept} kept + {removed_total} removed")
    for t in step_totals:
        t["removed"] = dict(sorted(t["removed"].items()))
        t["metrics"] = dict(sorted(t["metrics"].items()))
        t["documents_removed"] = sum(t["removed"].values())
        t["params"] = steps[t["index"]].params()
    return {
        "recipe_fingerprint": recipe.fingerprint(),
        "input": {"files": len(shards), "documents": input_docs, "quarantined": dict(sorted(quarantined.items()))},
        "output": {"path": str(layout.out), "documents": kept, "shards": shard_rows},
        "removed": removed_total,
        "steps": step_totals,
        "wall_seconds": wall_seconds,
        "tasks": _task_summary(steps, segments, segment_marks, stage_marks),
        "accounting": f"{input_docs} in = {kept} kept + {removed_total} removed",
    }


def _task_summary(steps: list[Operator], segments: list[Segment], segment_marks: dict[int, list[dict[str, Any]]],
                  stage_marks: dict[int, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Per segment and stage: CPU, peak RSS, bytes (pipeline/task_metrics.py), and what `tasks`
    (completion marks: one a file, or a stage's partition) is made clear by: `files`, the files
    done (a segment's, a per-shard stage's; a big file's pieces count as one), and
    `executor_tasks`, the tasks the executor ran for it (small files grouped into one task count
    once, a big file's pieces each), from the marks: a rerun that resumes or has nothing left
    to do says the same."""
    summary = summarize_tasks(segments, steps, segment_marks, stage_marks)
    parts = []  # in summarize's order: a global step's stages (their marks), then its segment
    for seg in segments:
        op = steps[seg.first] if seg.first < seg.end else None
        if isinstance(op, GlobalOperator):
            parts += [(stage.kind, [m for m in stage_marks.get(seg.first, []) if m.get("stage") == stage.name])
                      for stage in op.stages()]
        parts.append(("segment", segment_marks.get(seg.index, [])))
    for entry, (kind, marks) in zip(summary, parts, strict=True):
        entry["files"] = len(marks) if kind in ("segment", "shard") else None
        entry["executor_tasks"] = _executor_tasks(marks)
    return summary


def _executor_tasks(marks: list[dict[str, Any]]) -> int:
    """Tasks that wrote these marks: the tasks of a group (`executor_task`: its first task) ran
    as one, a big file as one task a piece."""
    groups = {m["executor_task"] for m in marks if m.get("executor_task")}
    alone = sum(m.get("pieces", 1) for m in marks if not m.get("executor_task"))
    return len(groups) + alone


def _mark_reader(known: dict[str, Any]) -> Callable[[list[Location]], list[Any]]:
    """Marks by place: those in `known` (returned by this run's tasks) as they are, the others
    fetched together (None where absent)."""

    def marks(places: list[Location]) -> list[Any]:
        fetched = iter(read_marks([m for m in places if m.url not in known]))
        return [known[m.url] if m.url in known else next(fetched) for m in places]

    return marks


def _stage_mark_places(layout: Layout, steps: list[Operator]) -> list[tuple[int, Location]]:
    """(step, mark) of every stage task done, from one listing per global step."""
    places = []
    for k, op in enumerate(steps):
        if not isinstance(op, GlobalOperator):
            continue
        done = layout.step_dir(k, op) / "_done"
        places += [(k, done / rel) for rel in done.walk()  # a stage's own notes (`_skipped`) are no task's
                   if rel.count("/") == 1 and rel.endswith(".json") and not rel.split("/")[1].startswith("_")]
    return places
