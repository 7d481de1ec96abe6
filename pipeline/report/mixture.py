"""Report pieces of the token steps: the realized mixture of a `mix` step (documents, tokens,
epochs and share per source, from its `mix:<source>:*` metrics) and the packed token count of a
`tokenize` step, which the token budget then uses."""

from __future__ import annotations

from typing import Any

from pipeline.report.html import Section, fmt_int, note, table


def packed_tokens(stats: dict[str, Any]) -> float | None:
    """Tokens the last `tokenize` step wrote to its training files (None: no such step)."""
    for step in reversed(stats["steps"]):
        if "tokenize:train_tokens" in step["metrics"]:
            return float(step["metrics"]["tokenize:train_tokens"])
    return None


PACKED_HOW = ("tokens written to the training files by the tokenize step (EOS and mix repeats included, "
              "validation split excluded)")


def mixture_section(stats: dict[str, Any]) -> Section | None:
    rows = []
    for step in stats["steps"]:
        if step["operator"] != "mix":
            continue
        metrics = step["metrics"]
        sources = sorted({k.split(":")[1] for k in metrics if k.startswith("mix:") and k.count(":") == 2})
        for s in sources:
            m = {name: metrics.get(f"mix:{s}:{name}", 0) for name in
                 ("documents_before", "tokens_before", "documents_after", "tokens_after", "epochs", "share")}
            rows.append([s, fmt_int(m["documents_before"]), fmt_int(m["tokens_before"]),
                         fmt_int(m["documents_after"]), fmt_int(m["tokens_after"]),
                         f"{m['epochs']:.2f}", f"{100 * m['share']:.2f}%"])
    if not rows:
        return None
    headers = ["source", "documents before", "size before", "documents after", "size after", "epochs", "share"]
    return Section("mixture", "Mixture", [
        table(headers, rows, numeric=(1, 2, 3, 4, 5, 6)),
        note("Realized by the mix step (sizes in its unit; documents after count repeats). Epochs are capped at "
             "max_epochs (default 4, Muennighoff et al. 2023, 'Scaling Data-Constrained Language Models')."),
    ])
