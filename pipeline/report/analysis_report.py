"""The HTML page of `pipeline analyze`: the run report's views, computed on a sample."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa

from pipeline.report import plots
from pipeline.report.analysis import Analysis, ThresholdStudy, statistic_columns
from pipeline.report.columns import as_float
from pipeline.report.html import (
    Markup,
    Section,
    card,
    figure,
    fmt_int,
    fmt_num,
    fmt_pct,
    fmt_seconds,
    note,
    page,
    table,
)
from pipeline.report.sections import (
    bounds_text,
    budget_section,
    environment_section,
    language_section,
    pii_section,
    recipe_section,
    stat_panel,
)
from storage import files


def write_analysis(analysis: Analysis, path: Path) -> Path:
    html = build_analysis_page(analysis)
    path = Path(path)
    files.write_text(path, html)
    return path


def build_analysis_page(a: Analysis) -> str:
    sections = [summary_section(a), statistics_section(a)]
    lang = _languages(a)
    if lang is not None:
        sections.append(lang)
    pii = _pii(a)
    if pii is not None:
        sections.append(pii)
    tokens, how = sample_tokens(a)
    sections += [budget_section(tokens, how), time_section(a),
                 recipe_section(a.recipe.model_dump(mode="json"), a.recipe.fingerprint(), a.source),
                 environment_section(a.recipe.build_steps(), None)]
    return page("Threshold analysis", f"{a.source} · sample of {a.n:,} documents, seed {a.seed}", sections)


def summary_section(a: Analysis) -> Section:
    n = a.n
    kept = int(a.alive.sum())
    cards = [card("documents in the corpus", fmt_int(a.sample.corpus_documents)),
             card("sampled", fmt_int(n)),
             card(f"would be kept ({fmt_pct(kept, n)})", fmt_int(kept)),
             card("sampling time", fmt_seconds(a.sample.seconds)),
             card("steps time", fmt_seconds(a.steps_seconds))]
    body: list[str] = [Markup(f'<div class="cards">{"".join(cards)}</div>'),
                       note("Nothing was removed: every step ran on every sampled document. 'Alone' counts a "
                            "step on all sampled documents; 'after earlier steps' counts it on those the earlier "
                            "steps (with the configured thresholds) would keep.")]
    skipped = [s for s in a.steps if not s.evaluated]
    for s in skipped:
        body.append(note(f"step {s.index} ({s.name}): {s.note}"))
    if a.sample.quarantined:
        body.append(note(f"{sum(a.sample.quarantined.values()):,} bad input records would be quarantined: "
                         + ", ".join(f"{r} {n:,}" for r, n in a.sample.quarantined.items())))
    rows, attrs = [], []
    for s in a.steps:
        if not s.evaluated:
            rows.append([str(s.index), s.name, s.kind, "not evaluated", "", "", "", ""])
            attrs.append({"data-step": s.index})
            continue
        rows.append([str(s.index), s.name, s.kind, fmt_int(s.removed_alone), fmt_pct(s.removed_alone, n),
                     fmt_int(s.removed_after), fmt_pct(s.removed_after, s.documents_in),
                     ", ".join(f"{r} {c:,}" for r, c in s.reasons.most_common())])
        attrs.append({"data-step": s.index, "data-removed-alone": s.removed_alone, "data-removed-after": s.removed_after})
    body.append(table(["step", "operator", "kind", "would remove alone", "% of sample", "after earlier steps",
                       "% of step input", "reasons (alone)"], rows, numeric=(3, 4, 5, 6), row_attrs=attrs))
    remaining = [n]
    labels = ["sample"]
    for s in a.steps:
        remaining.append(remaining[-1] - s.removed_after)
        labels.append(f"{s.index} {s.name}")
    body.append(figure(plots.funnel(labels, [("documents of the sample", remaining)]),
                       "Sampled documents remaining after each step, with the configured thresholds."))
    return Section("summary", "Summary", body)


def _study_table(a: Analysis, st: ThresholdStudy) -> str:
    n = a.n
    step = a.steps[st.step]
    rows, attrs = [], []
    for c in st.candidates:
        rows.append([f"{'≥' if st.side == 'min' else '≤'} {fmt_num(c.value)}", c.origin, fmt_int(c.removed_alone), fmt_pct(c.removed_alone, n),
                     fmt_int(c.removed_after), fmt_pct(c.removed_after, step.documents_in)])
        attrs.append({"class": "configured"} if c.origin == "configured" else {})
    return table(["keep if", "from", "removes alone", "% of sample", "after earlier steps", "% of step input"],
                 rows, numeric=(2, 3, 4, 5), row_attrs=attrs,
                 caption=f"{st.column}: documents this one rule would remove ({'below' if st.side == 'min' else 'above'} the value)")


def statistics_section(a: Analysis) -> Section:
    panels = []
    for k, column in statistic_columns(a):
        step = a.steps[k]
        values = as_float(a.table.column(column))
        bounds = step.thresholds.get(column, (None, None))
        removed = step.removed if step.removed is not None else np.zeros(values.size, bool)
        groups = [plots.Group(f"kept by step {k}", values[~removed], plots.KEPT),
                  plots.Group(f"removed by step {k}", values[removed], plots.REMOVED_HERE)]
        heading = (f"Step {k} ({step.name}): " + (bounds_text(bounds) if column in step.thresholds else "no threshold")
                   + f". Mean {fmt_num(float(np.nanmean(values)) if np.isfinite(values).any() else float('nan'))}.")
        studies = "".join(_study_table(a, st) for st in a.studies if st.step == k and st.column == column)
        panels.append(stat_panel(column, groups, bounds, heading, extra=studies))
    body: list[str] = [note(
        "Histograms colour what each step would remove on its own. Under each: quantiles, then for each configured "
        "bound the documents that one rule would remove at candidate values: the configured one (highlighted), "
        "multiples of it, and quantiles of the sample (p5 = the value 5% of documents fall below); a filter with "
        "several rules removes the union.")]
    body.append(Markup(f'<div class="grid">{"".join(panels)}</div>') if panels else
                note("The recipe's steps add no numeric statistic columns."))
    return Section("statistics", "Statistics and candidate thresholds", body)


def _languages(a: Analysis) -> Section | None:
    if "lang" not in a.table.column_names:
        return None
    langs = np.asarray(a.table.column("lang").cast(pa.string()).to_pylist(), dtype=object)
    langs = np.where(langs == None, "(none)", langs)  # noqa: E711 - elementwise comparison
    return language_section({"would be kept": Counter(langs[a.alive].tolist()),
                             "would be removed": Counter(langs[~a.alive].tolist())})


def _pii(a: Analysis) -> Section | None:
    metrics: Counter = Counter()
    for s in a.steps:
        for key, v in s.metrics.items():
            if key.startswith("pii:"):
                metrics[key[4:]] += v
    docs = {}
    for c in a.table.column_names:
        if c.startswith("pii_count_"):
            v = as_float(a.table.column(c))
            docs[c[len("pii_count_"):]] = (int(np.count_nonzero(v > 0)), float(np.nansum(v)))
    return pii_section(dict(metrics), docs)


def sample_tokens(a: Analysis) -> tuple[float | None, str]:
    """Tokens the corpus would keep, extrapolated from the sample's kept documents."""
    if "token_count" not in a.table.column_names or a.n == 0:
        return None, ""
    counts = as_float(a.table.column("token_count"))
    kept = float(np.nansum(counts[a.alive]))
    scale = a.sample.corpus_documents / a.n
    return kept * scale, (f"extrapolated: {kept:,.0f} tokens kept in the sample × {scale:,.2f} "
                          f"(corpus documents / sampled documents)")


def time_section(a: Analysis) -> Section:
    rows = []
    for s in a.steps:
        if not s.evaluated:
            continue
        rate = fmt_int(a.n / s.seconds) if s.seconds > 0 else "–"
        rows.append([str(s.index), s.name, f"{s.seconds:.2f}", rate])
    labels = [f"{r[0]} {r[1]}" for r in rows] + ["sampling (reading the corpus)"]
    secs = [float(r[2]) for r in rows] + [a.sample.seconds]
    body = [figure(plots.hbar(labels, [("seconds", secs, plots.BAR)], xlabel="seconds", ylabel="step")),
            table(["step", "operator", "seconds", "documents/s"], rows, numeric=(2, 3)),
            note(f"Sampling read {a.sample.corpus_documents:,} documents in {fmt_seconds(a.sample.seconds)}.")]
    return Section("time", "Time", body)

