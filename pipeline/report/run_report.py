"""The run report: what happened to the data in one run, as one self-contained HTML file."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from operators.base import ID, TEXT
from pipeline.report import plots
from pipeline.report.columns import CATEGORICAL, ColumnScan, scan_columns
from pipeline.report.examples import examples_by_reason, quarantine_examples
from pipeline.report.html import (
    Markup,
    Section,
    card,
    esc,
    figure,
    fmt_int,
    fmt_num,
    fmt_pct,
    fmt_seconds,
    fmt_si,
    note,
    page,
    pre,
    table,
)
from pipeline.report.mixture import PACKED_HOW, mixture_section, packed_tokens
from pipeline.report.run_data import RunData, load_run
from pipeline.report.sections import (
    bounds_text,
    budget_section,
    cluster_section,
    environment_section,
    language_section,
    pii_section,
    recipe_section,
    stat_panel,
)
from storage import files
from storage.location import Location

KEPT_GROUP = "kept"
EXAMPLES_PER_REASON = 3
PII_COLUMN_PREFIX = "pii_count_"
PII_METRIC_PREFIX = "pii:"


def step_group(k: int) -> str:
    return f"step{k}"


def write_report(out_dir: Path | Location | str, path: Path | None = None) -> Path | Location:
    """Write `report.html` (or `path`) for the finished run in `out_dir`; return its path."""
    run = load_run(out_dir)
    target = Location(path) if path is not None else run.out / "report.html"
    html = build_report(run)
    files.write_text(target, html)
    return target if target.is_remote else target.path


def input_columns(run: RunData) -> set[str]:
    """Columns the input already had (metadata such as a year), which are not statistics."""
    shards = run.stats["output"]["shards"]
    first = Path(shards[0]["path"]) if shards else None
    if first is None or first.suffix not in (".parquet", ".pq") or not first.is_file():
        return set()
    return set(pq.read_schema(first).names)


def build_report(run: RunData) -> str:
    sources = [(KEPT_GROUP, p) for p in run.output_files]
    sources += [(step_group(k), p) for k, files in sorted(run.rejected.items()) for p in files]
    scan = scan_columns(sources, exclude=input_columns(run))
    tokens = token_accounting(run, scan)
    sections = [summary_section(run, scan, tokens), funnel_section(run, tokens), statistics_section(run, scan)]
    sections += [s for s in (
        language_section(_language_groups(run, scan)),
        cluster_section(scan.group_values("cluster_size", list(scan.rows)), scan.sampled)
        if "cluster_size" in scan.values else None,
        pii_section(*_pii_counts(run, scan)),
    ) if s is not None]
    packed = packed_tokens(run.stats)  # a tokenize step's training tokens are what a model would see
    sections += [s for s in (mixture_section(run.stats),) if s is not None]
    sections += [
        budget_section(packed, PACKED_HOW) if packed else budget_section(tokens["kept"], tokens["how"]),
        time_section(run),
        examples_section(run),
    ]
    if sum(run.stats["input"]["quarantined"].values()):
        sections.append(quarantine_section(run))
    recipe_data = run.recipe.model_dump(mode="json") if run.recipe is not None else None
    sections += [recipe_section(recipe_data, run.stats.get("recipe_fingerprint")),
                 environment_section(run.steps, run.out / "artifacts", run.out.options)]
    return page("Pipeline run report", str(run.out), sections)


# ---- tokens ------------------------------------------------------------------------------------


def token_accounting(run: RunData, scan: ColumnScan) -> dict[str, Any]:
    """Tokens remaining after each step: the `tokens` metric where a step counted them, else
    derived from `token_count` (kept output plus what later steps removed)."""
    steps = run.stats["steps"]
    after: list[float | None] = [None] * len(steps)
    for k, t in enumerate(steps):
        if "tokens" in t["metrics"]:
            after[k] = float(t["metrics"]["tokens"])
    sums = scan.sums.get("token_count")
    kept = None
    how = ""
    if sums is not None and scan.counts["token_count"][KEPT_GROUP] == run.stats["output"]["documents"]:
        kept = sums[KEPT_GROUP]
        how = "sum of the token_count column over the output shards"
        removed_later = 0.0
        for k in range(len(steps) - 1, -1, -1):
            if after[k] is None:
                after[k] = kept + removed_later
            nxt = steps[k]
            counted = scan.counts["token_count"].get(step_group(k), 0)
            if nxt["documents_removed"] and counted != nxt["documents_removed"]:
                break  # removed documents without token counts (not written, or removed before counting)
            removed_later += sums.get(step_group(k), 0.0)
    elif any(a is not None for a in after):
        last = max(k for k, a in enumerate(after) if a is not None)
        if all(steps[j]["documents_removed"] == 0 for j in range(last + 1, len(steps))):
            kept = after[last]
            how = f"the `tokens` metric of step {last}"
    return {"after": after, "kept": kept, "how": how}


# ---- summary and funnel ------------------------------------------------------------------------


def summary_section(run: RunData, scan: ColumnScan, tokens: dict[str, Any]) -> Section:
    st = run.stats
    n_in = st["input"]["documents"]
    kept = st["output"]["documents"]
    quarantined = sum(st["input"]["quarantined"].values())
    steps = st["steps"]
    chars_in = steps[0].get("chars_in") if steps else None
    chars_out = steps[-1].get("chars_out") if steps else None
    workers = run.recipe.executor.workers if run.recipe is not None else None
    cards = [
        card("input documents", fmt_int(n_in)),
        card(f"kept ({fmt_pct(kept, n_in)})", fmt_int(kept)),
        card("removed", fmt_int(st["removed"] - quarantined)),
        card("quarantined (bad input)", fmt_int(quarantined)),
    ]
    if chars_in:
        cards.append(card(f"characters kept ({fmt_pct(chars_out, chars_in)})", fmt_si(chars_out)))
    if tokens["kept"]:
        cards.append(card("tokens kept", fmt_si(tokens["kept"])))
    cards.append(card("wall time", fmt_seconds(st["wall_seconds"])))
    if st["wall_seconds"] > 0:
        cards.append(card("documents/s (wall)", fmt_int(n_in / st["wall_seconds"])))
    if workers:
        executor = run.recipe.executor.type if run.recipe is not None else ""
        cards.append(card(f"workers ({executor})", str(workers)))
    body: list[str] = [Markup(f'<div class="cards">{"".join(cards)}</div>'), note(st["accounting"])]
    for n in run.notes:
        body.append(note(n))
    if not run.rejected and st["removed"] - quarantined > 0:
        body.append(note("Removed documents were not written (output.rejected: false): histograms show kept "
                         "documents only and there are no examples."))
    return Section("summary", "Summary", body)


def funnel_section(run: RunData, tokens: dict[str, Any]) -> Section:
    st = run.stats
    steps = st["steps"]
    n_in = st["input"]["documents"]
    quarantined = sum(st["input"]["quarantined"].values())
    has_tokens = any(a is not None for a in tokens["after"])
    headers = ["step", "operator", "documents in", "documents out", "removed", "removed % of step input",
               "removed % of all input", "characters out", "characters kept % of input"]
    if has_tokens:
        headers.append("tokens after step")
    rows: list[list[object]] = []
    attrs: list[dict[str, object]] = []
    first_chars = steps[0].get("chars_in", 0) if steps else 0
    row_in = ["input", "", fmt_int(n_in), fmt_int(n_in - quarantined), fmt_int(quarantined),
              fmt_pct(quarantined, n_in), fmt_pct(quarantined, n_in), fmt_int(first_chars), "100.00%"]
    rows.append(row_in + ([""] if has_tokens else []))
    attrs.append({"data-step": "input", "data-documents-in": n_in, "data-documents-out": n_in - quarantined,
                  "data-removed": quarantined})
    for k, t in enumerate(steps):
        row = [str(k), t["operator"], fmt_int(t["documents_in"]), fmt_int(t["documents_out"]),
               fmt_int(t["documents_removed"]), fmt_pct(t["documents_removed"], t["documents_in"]),
               fmt_pct(t["documents_removed"], n_in), fmt_int(t.get("chars_out", 0)),
               fmt_pct(t.get("chars_out", 0), first_chars)]
        if has_tokens:
            row.append(fmt_int(tokens["after"][k]))
        rows.append(row)
        attrs.append({"data-step": k, "data-documents-in": t["documents_in"], "data-documents-out": t["documents_out"],
                      "data-removed": t["documents_removed"], "data-chars-out": t.get("chars_out", 0)})
    kept = st["output"]["documents"]
    rows.append(["output", "", "", fmt_int(kept), fmt_int(n_in - kept), "", fmt_pct(n_in - kept, n_in),
                 fmt_int(steps[-1].get("chars_out", 0) if steps else first_chars), ""] + ([fmt_int(tokens["kept"])] if has_tokens else []))
    attrs.append({"data-step": "output", "data-documents-out": kept, "data-removed": n_in - kept, "class": "total"})
    labels = ["input"] + [f"{k} {t['operator']}" for k, t in enumerate(steps)]
    series: list[tuple[str, list[float | None]]] = [
        ("documents", [n_in] + [t["documents_out"] for t in steps]),
        ("characters", [first_chars] + [t.get("chars_out", 0) for t in steps]),
    ]
    if has_tokens:
        series.append(("tokens", [None] + list(tokens["after"])))
    body: list[str] = [figure(plots.funnel(labels, series), "What remains after each step (percent of the input).")]
    body.append(table(headers, rows, numeric=range(2, len(headers)), row_attrs=attrs, css_class="funnel"))
    reason_rows = []
    for k, t in enumerate(steps):
        for reason, n in sorted(t["removed"].items(), key=lambda kv: -kv[1]):
            reason_rows.append([str(k), t["operator"], reason, fmt_int(n), fmt_pct(n, t["documents_in"]), fmt_pct(n, n_in)])
    for reason, n in sorted(st["input"]["quarantined"].items(), key=lambda kv: -kv[1]):
        reason_rows.append(["input", "quarantine", reason, fmt_int(n), fmt_pct(n, n_in), fmt_pct(n, n_in)])
    if reason_rows:
        body.append(Markup("<h3>Removed, by reason</h3>"))
        body.append(table(["step", "operator", "reason", "documents", "% of step input", "% of all input"],
                          reason_rows, numeric=(3, 4, 5)))
    if not has_tokens:
        body.append(note("Tokens were not counted in this run."))
    return Section("funnel", "Funnel", body)


# ---- statistics --------------------------------------------------------------------------------


def statistics_section(run: RunData, scan: ColumnScan) -> Section:
    thresholds = run.thresholds()
    columns = sorted(scan.values, key=lambda c: (thresholds.get(c, (10**9,))[0], c))
    removed_groups = [g for g in scan.rows if g != KEPT_GROUP]
    panels = []
    for c in columns:
        kept = scan.group_values(c, [KEPT_GROUP])
        if c in thresholds:
            k, bounds = thresholds[c]
            here = step_group(k)
            others = [g for g in removed_groups if g != here]
            groups = [plots.Group("kept", kept, plots.KEPT),
                      plots.Group("removed by other steps", scan.group_values(c, others), plots.REMOVED_OTHER),
                      plots.Group(f"removed by step {k}", scan.group_values(c, [here]), plots.REMOVED_HERE)]
            heading = f"Threshold of step {k} ({run.step_name(k)}): {bounds_text(bounds)}."
        else:
            bounds = (None, None)
            groups = [plots.Group("kept", kept, plots.KEPT),
                      plots.Group("removed", scan.group_values(c, removed_groups), plots.REMOVED_OTHER)]
            heading = "No threshold in the recipe."
        total = sum(scan.counts[c].values())
        mean = scan.total(c) / total if total else float("nan")
        heading += f" {fmt_int(total)} documents with a value, mean {fmt_num(mean)}."
        panels.append(stat_panel(c, groups, bounds, heading))
    body: list[str] = []
    if scan.sampled:
        body.append(note(f"Histograms and quantiles use a seeded sample of {scan.rate:.1%} of the "
                         f"{scan.rows_total:,} rows (same rate for kept and removed documents); counts and means are exact."))
    if not panels:
        body.append(note("The run added no numeric statistic columns."))
    body.append(Markup(f'<div class="grid">{"".join(panels)}</div>'))
    return Section("statistics", "Statistics", body)


def _language_groups(run: RunData, scan: ColumnScan) -> dict[str, Counter]:
    by_group = scan.categories.get(CATEGORICAL[0], {})
    if not by_group:
        return {}
    kept = by_group.get(KEPT_GROUP, Counter())
    removed: Counter = Counter()
    for g, c in by_group.items():
        if g != KEPT_GROUP:
            removed.update(c)
    return {"kept": kept, "removed": removed}


def _pii_counts(run: RunData, scan: ColumnScan) -> tuple[dict[str, float], dict[str, tuple[int, float]]]:
    metrics: Counter = Counter()
    for t in run.stats["steps"]:
        for key, v in t["metrics"].items():
            if key.startswith(PII_METRIC_PREFIX):
                metrics[key[len(PII_METRIC_PREFIX):]] += v
    docs = {}
    for c in scan.values:
        if c.startswith(PII_COLUMN_PREFIX):
            docs[c[len(PII_COLUMN_PREFIX):]] = (sum(scan.nonzero[c].values()), scan.total(c))
    return dict(metrics), docs


# ---- time --------------------------------------------------------------------------------------


def time_section(run: RunData) -> Section:
    st = run.stats
    steps = st["steps"]
    shards = st["output"]["shards"]
    task_seconds = sum(s["seconds"] for s in shards)
    step_seconds = [t["seconds"] + t.get("stage_seconds", 0.0) for t in steps]
    batch_seconds = sum(t["seconds"] for t in steps)
    overhead = max(task_seconds - batch_seconds, 0.0)
    total = sum(step_seconds) + overhead
    rows = []
    for k, t in enumerate(steps):
        secs = step_seconds[k]
        stages = ", ".join(f"{name} {v:.2f} s" for name, v in t.get("stages", {}).items())
        rows.append([str(k), t["operator"], t["kind"], fmt_int(t["documents_in"]), f"{t['seconds']:.2f}",
                     f"{t.get('stage_seconds', 0.0):.2f}", stages, fmt_int(t["documents_in"] / secs) if secs > 0 else "–",
                     fmt_pct(secs, total)])
    rows.append(["", "reading, writing, framework", "", "", f"{overhead:.2f}", "", "", "", fmt_pct(overhead, total)])
    labels = [f"{k} {t['operator']}" for k, t in enumerate(steps)] + ["read/write/other"]
    svg = plots.hbar(labels, [("seconds", step_seconds + [overhead], plots.BAR)], xlabel="seconds (summed over workers)",
                     ylabel="step")
    body: list[str] = [
        note(f"Wall time {fmt_seconds(st['wall_seconds'])}; worker time {fmt_seconds(total)} "
             f"(summed over workers: batch processing per step, global stages, and reading/writing)."),
        figure(svg, "Where the time went."),
        table(["step", "operator", "kind", "documents in", "batch s", "stage s", "stages", "documents/s", "share"],
              rows, numeric=(3, 4, 5, 7, 8)),
    ]
    shard_rows = []
    for s in shards:
        n_in = run.shard_inputs.get(s["shard"])
        rate = (n_in if n_in is not None else s["documents_out"]) / s["seconds"] if s["seconds"] > 0 else None
        shard_rows.append([s["shard"], fmt_int(n_in), fmt_int(s["documents_out"]), f"{s['seconds']:.2f}",
                           fmt_int(rate)])
    body.append(Markup("<h3>Per shard</h3>"))
    if 1 < len(shards) <= 64:
        body.append(figure(plots.vbar([s["shard"] for s in shards], [s["seconds"] for s in shards],
                                      xlabel="shard", ylabel="seconds (all segments)")))
    elif len(shards) > 64:
        secs = np.array([s["seconds"] for s in shards])
        body.append(figure(plots.histogram("seconds per shard", [plots.Group("shards", secs, plots.BAR)], ylabel="shards")))
    body.append(table(["shard", "documents in", "documents out", "seconds", "documents/s"], shard_rows,
                      numeric=(1, 2, 3, 4)))
    return Section("time", "Time", body)


# ---- examples ----------------------------------------------------------------------------------


def examples_section(run: RunData) -> Section:
    steps = run.stats["steps"]
    thresholds = run.thresholds()
    body: list[str] = [note(f"Up to {EXAMPLES_PER_REASON} documents per reason, in corpus order, cut to 600 characters; "
                            "e-mails, phone numbers, IPs, card numbers, IBANs, SSNs and URL credentials are replaced "
                            "by tags such as <EMAIL> whatever the recipe did.")]
    any_shown = False
    for k, t in enumerate(steps):
        if not t["documents_removed"]:
            continue
        files = run.rejected.get(k)
        if not files:
            body.append(note(f"step {k} ({t['operator']}): removed documents were not written."))
            continue
        stat_cols = [c for c, (s, _) in thresholds.items() if s == k]
        found = examples_by_reason(files, EXAMPLES_PER_REASON, text_column=TEXT, stat_columns=stat_cols, id_column=ID)
        body.append(Markup(f"<h3>step {k}: {esc(t['operator'])}</h3>"))
        for reason, n in sorted(t["removed"].items(), key=lambda kv: -kv[1]):
            items = found.get(reason, [])
            parts = []
            for ex in items:
                stats = ", ".join(f"{c} = {fmt_num(v)}" for c, v in ex.stats.items())
                meta = f"id {ex.doc_id} · {ex.chars:,} characters" + (f" · {stats}" if stats else "")
                parts.append(f'<div class="example-meta">{esc(meta)}</div>{pre(ex.text)}')
            any_shown = any_shown or bool(items)
            body.append(Markup(f"<details><summary>{esc(reason)}: {fmt_int(n)} documents "
                               f"({fmt_pct(n, t['documents_in'])} of the step's input)</summary>{''.join(parts)}</details>"))
    if not any_shown and len(body) == 1:
        body.append(note("No documents were removed."))
    return Section("examples", "Removed documents, by reason", body)


def quarantine_section(run: RunData) -> Section:
    counts = run.stats["input"]["quarantined"]
    rows = [[r, fmt_int(n)] for r, n in sorted(counts.items(), key=lambda kv: -kv[1])]
    body: list[str] = [table(["reason", "records"], rows, numeric=(1,))]
    examples = quarantine_examples(run.quarantine_files, 5)
    if examples:
        body.append(table(["file", "row", "field", "reason", "raw (scrubbed, cut)"],
                          [[e.file, str(e.row), e.field, e.reason, e.raw] for e in examples]))
    return Section("quarantine", "Quarantined input", body)
