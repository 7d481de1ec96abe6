"""Report sections shared by the run report and `pipeline analyze`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from operators.base import Operator
from pipeline.report import plots
from pipeline.report.budget import CHINCHILLA, budget_for_tokens
from pipeline.report.environment import mask_secrets, model_files, package_versions
from pipeline.report.html import (
    Markup,
    Section,
    esc,
    figure,
    fmt_int,
    fmt_num,
    fmt_pct,
    fmt_sci,
    fmt_si,
    note,
    pre,
    table,
)
from storage.location import Location

# Hoffmann et al. 2022 trained "over 400 models ranging from 70 million to over 16 billion parameters
# on 5 to 500 billion tokens"; outside this the fit extrapolates.
FIT_PARAMS = (70e6, 16e9)
FIT_TOKENS = (5e9, 500e9)
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
TOP_LANGUAGES = 25


def quantiles(values: np.ndarray, qs: Sequence[float] = QUANTILES) -> list[float | None]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return [None] * len(qs)
    return [float(v) for v in np.quantile(finite, qs)]


def bounds_text(bounds: tuple[float | None, float | None]) -> str:
    lo, hi = bounds
    parts = []
    if lo is not None:
        parts.append(f"min kept {lo:g}")
    if hi is not None:
        parts.append(f"max kept {hi:g}")
    return ", ".join(parts) if parts else "no bound set"


def stat_panel(column: str, groups: Sequence[plots.Group], bounds: tuple[float | None, float | None],
               heading: str, extra: str = "") -> str:
    """One statistic: histogram with its threshold lines, and its quantiles."""
    allv = np.concatenate([g.values for g in groups]) if groups else np.zeros(0)
    qs = quantiles(allv)
    nulls = int(np.count_nonzero(~np.isfinite(allv)))
    finite = allv[np.isfinite(allv)]
    if finite.size and finite.min() == finite.max() and all(b is None for b in bounds):
        # one value everywhere (an entity never found): a sentence says it better than a bar
        body = note(f"Every document has the value {fmt_num(float(finite[0]))}.")
        return (f'<div class="stat" id="stat-{esc(column)}"><h3>{esc(column)}</h3>'
                f'{note(heading)}{body}{extra}</div>')
    svg = plots.histogram(column, groups, bounds)
    qtable = table([f"p{int(q * 100)}" for q in QUANTILES], [[fmt_num(v) for v in qs]], numeric=range(len(QUANTILES)))
    null_note = f" {nulls:,} without a value (null or NaN) are not drawn." if nulls else ""
    return (f'<div class="stat" id="stat-{esc(column)}"><h3>{esc(column)}</h3>'
            f'{note(heading + null_note)}{figure(svg)}{qtable}{extra}</div>')


def language_section(counts: Mapping[str, Counter], anchor: str = "languages") -> Section | None:
    """`counts`: group label -> language -> documents; groups stacked in the given order."""
    if not counts:
        return None
    total: Counter = Counter()
    for c in counts.values():
        total.update(c)
    if not total:
        return None
    ordered = [lang for lang, _ in total.most_common()]
    top = ordered[:TOP_LANGUAGES]
    rest = ordered[TOP_LANGUAGES:]
    labels = top + ([f"other ({len(rest)} languages)"] if rest else [])
    colors = [plots.KEPT, plots.REMOVED_HERE, plots.REMOVED_OTHER]
    stacks = []
    for (group, c), color in zip(counts.items(), colors, strict=False):
        vals = [c.get(lang, 0) for lang in top] + ([sum(c.get(lang, 0) for lang in rest)] if rest else [])
        stacks.append((group, vals, color))
    totals = [total[lang] for lang in top]
    dominated = len(totals) > 1 and totals[0] > 50 * totals[-1]
    svg = plots.hbar(labels, stacks, xlabel="documents" + (" (log scale)" if dominated else ""),
                     ylabel="language (lang)", log=dominated)
    grand = sum(total.values())
    groups = list(counts)
    rows = [[lang, *(fmt_int(counts[g].get(lang, 0)) for g in groups), fmt_pct(total[lang], grand)] for lang in top]
    body = [figure(svg), table(["lang", *groups, "share of all"], rows, numeric=range(1, len(groups) + 2))]
    return Section(anchor, "Languages", body)


def cluster_section(sizes: np.ndarray, sampled: bool) -> Section | None:
    sizes = sizes[np.isfinite(sizes)]
    if sizes.size == 0:
        return None
    buckets = [(1, 1, "1"), (2, 2, "2"), (3, 3, "3"), (4, 5, "4–5"), (6, 10, "6–10"), (11, 100, "11–100"),
               (101, 1000, "101–1k"), (1001, np.inf, ">1k")]
    labels, docs, clusters = [], [], []
    for lo, hi, label in buckets:
        sel = (sizes >= lo) & (sizes <= hi)
        labels.append(label)
        docs.append(int(sel.sum()))
        clusters.append(float((1.0 / sizes[sel]).sum()))
    svg = plots.vbar(labels, docs, xlabel="cluster size (documents sharing a near-duplicate cluster)",
                     ylabel="documents (log scale)", log=True)
    rows = [[lab, fmt_int(d), fmt_int(c)] for lab, d, c in zip(labels, docs, clusters)]
    body = [figure(svg), table(["cluster size", "documents", "clusters (≈ documents / size)"], rows, numeric=(1, 2))]
    if sampled:
        body.append(note("Counted on the sampled rows (see the statistics section)."))
    return Section("clusters", "Duplicate clusters", body)


def pii_section(metrics: Mapping[str, float], doc_counts: Mapping[str, tuple[int, float]]) -> Section | None:
    """`metrics`: entity -> entities found (metric `pii:<ENTITY>`); `doc_counts`: entity ->
    (documents with at least one, entities counted in columns)."""
    entities = sorted(set(metrics) | set(doc_counts), key=lambda e: -max(metrics.get(e, 0), doc_counts.get(e, (0, 0))[1]))
    if not entities:
        return None
    found = [metrics.get(e, doc_counts.get(e, (0, 0.0))[1]) for e in entities]
    svg = plots.hbar(entities, [("entities found", found, plots.BAR)], xlabel="entities found", ylabel="entity type")
    rows = [[e, fmt_int(metrics[e]) if e in metrics else "–",
             fmt_int(doc_counts[e][0]) if e in doc_counts else "–",
             fmt_int(doc_counts[e][1]) if e in doc_counts else "–"] for e in entities]
    body = [figure(svg), table(["entity", "found (metric pii:<ENTITY>)", "documents with ≥ 1 (pii_count_<ENTITY>)",
                                "entities in pii_count_<ENTITY>"], rows, numeric=(1, 2, 3))]
    return Section("pii", "Personal data found", body)


def budget_section(tokens: float | None, how: str) -> Section:
    if not tokens:
        return Section("budget", "Token budget", [note(
            "No tokens were counted in this run (no `token_count` column or `tokens` metric); add a token "
            "counting step to see the Chinchilla budget.")])
    b = budget_for_tokens(tokens)
    f = CHINCHILLA
    formula = Markup(
        '<div class="formula">L(N, D) = E + A / N<sup>α</sup> + B / D<sup>β</sup>, '
        f"E = {f.E}, A = {f.A}, B = {f.B}, α = {f.alpha}, β = {f.beta}; C ≈ 6 N D<br>"
        "compute-optimal: N<sub>opt</sub> = G (C/6)<sup>β/(α+β)</sup>, D<sub>opt</sub> = G<sup>−1</sup> (C/6)<sup>α/(α+β)</sup>, "
        f"G = (αA / βB)<sup>1/(α+β)</sup> = {f.G:.4f}<br>"
        "for D tokens: C/6 = (G D)<sup>(α+β)/α</sup>, N = G (C/6)<sup>β/(α+β)</sup></div>"
    )
    rows = [
        ["tokens kept, D", fmt_si(b.tokens), "(each seen once)"],
        ["compute-optimal parameters, N", fmt_si(b.params), f"{b.tokens_per_param:.1f} tokens per parameter"],
        ["training compute, C = 6ND", fmt_sci(b.flops), "FLOPs"],
        ["predicted loss, L(N, D)", f"{b.loss:.3f}", "nats per token (Hoffmann et al. 2022 fit)"],
        ["rule of thumb: N = D / 20", fmt_si(b.rule_params), Markup(f"C = {fmt_sci(b.rule_flops)}, L = {b.rule_loss:.3f}")],
    ]
    body = [
        Markup(f'<div class="cards"><div class="card"><div class="v">{esc(fmt_si(b.tokens))}</div>'
               f'<div class="k">tokens kept</div></div><div class="card"><div class="v">{esc(fmt_si(b.params))}</div>'
               '<div class="k">compute-optimal parameters</div></div>'
               f'<div class="card"><div class="v">{fmt_sci(b.flops)}</div><div class="k">FLOPs (6ND)</div></div>'
               f'<div class="card"><div class="v">{b.loss:.3f}</div><div class="k">predicted loss</div></div></div>'),
        formula,
        table(["quantity", "value", ""], rows, numeric=(1,)),
        *([note("Outside the range the fit was made on (models of 70 M to 16 B parameters, 5 B to 500 B tokens): "
                "the numbers above are extrapolations.")] if not (FIT_PARAMS[0] <= b.params <= FIT_PARAMS[1]
                                                                   and FIT_TOKENS[0] <= b.tokens <= FIT_TOKENS[1]) else []),
        note(f"Tokens: {how}. Fit: Hoffmann et al. 2022, 'Training Compute-Optimal Large Language Models' "
             "(arXiv:2203.15556), Approach 3. Its Approaches 1–2 suggest about 20 tokens per parameter; the "
             "parametric fit gives more (Besiroglu et al. 2024, arXiv:2404.10102, discuss why), so both are shown. "
             "Losses are on the paper's MassiveText distribution, comparable between data sizes, not across corpora."),
    ]
    return Section("budget", "Token budget", body)


def recipe_section(recipe_data: dict[str, Any] | None, fingerprint: str | None, source: str = "") -> Section:
    if recipe_data is None:
        return Section("recipe", "Recipe", [note("recipe not available")])
    shown = yaml.safe_dump(mask_secrets(recipe_data), sort_keys=False, allow_unicode=True, width=110)
    head = f"fingerprint {fingerprint}" if fingerprint else ""
    if source:
        head = f"{source} · {head}" if head else source
    return Section("recipe", "Recipe", [note(head + " (values under storage_options and secret-named keys are masked)"),
                                        pre(shown)])


def environment_section(steps: list[Operator | None], artifacts: Path | Location | None,
                        storage_options: dict[str, Any] | None = None) -> Section:
    versions = table(["software", "version"], package_versions())
    files = model_files(steps, artifacts, storage_options)
    body = [versions]
    if files:
        body.append(table(["model file", "path", "bytes", "sha256 (first 16)"],
                          [[w, p, fmt_int(n), h] for w, p, n, h in files], numeric=(2,)))
    else:
        body.append(note("No model files named in the recipe and no trained artifacts."))
    body.append(note("Software versions are those of the environment that wrote this report."))
    return Section("environment", "Software and models", body)
