"""Agreement with datatrove, filter by filter and reason by reason, on the same documents.

  python bench/peers/agreement_datatrove.py [--parts 2] [--out FILE.md]

datatrove's filter classes (0.10.1, its defaults; C4 without the terminal-punctuation rule) run
one at a time on every document in the datatrove environment (datatrove_decisions.py); this
project's counterparts run the same way here, each on every document (not chained): Gopher
repetition, Gopher quality, C4 (c4_line_cleaner without terminal punctuation, then
c4_quality_filter) and FineWeb. Both stop at the first failing rule, so a document counts under
the first reason each gives. Per filter: documents both remove, only datatrove removes, only we
remove; per datatrove reason: how many of its documents we remove too (and under which of our
reasons); per our reason: how many of its documents datatrove keeps.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))

from operators import registry  # noqa: E402

ENVS = Path(os.environ.get("PEERS_ENVS", HERE / "_envs"))
CORPUS = Path(os.environ.get("PIPELINE_SHARED_DATA", ROOT.parent / "shared" / "data")) / "corpus_en"
OURS = {
    "gopher_repetition": [("gopher_repetition_filter", {})],
    "gopher_quality": [("gopher_quality_filter", {})],
    "c4": [("c4_line_cleaner", {"require_terminal_punctuation": False}), ("c4_quality_filter", {})],
    "fineweb": [("fineweb_quality_filter", {})],
}


def our_reasons(table: pa.Table, steps: list[tuple[str, dict]]) -> list[str]:
    """The first reason the chain `steps` removes each document for ("" = kept)."""
    reasons = [""] * table.num_rows
    rows = pa.array(range(table.num_rows))
    current = table.append_column("_row", rows)
    for name, params in steps:
        op = registry.build(name, params)
        op.ensure_setup()
        result = op.apply(current)
        if result.reasons is None:
            current = result.table
            continue
        removed = result.reasons.is_valid()
        for row, reason in zip(result.table.column("_row").filter(removed).to_pylist(),
                               result.reasons.filter(removed).to_pylist()):
            reasons[row] = reason
        current = result.table.filter(pa.compute.invert(removed))
    return reasons


def agreement(theirs: list[str], ours: list[str]) -> tuple[list[str], dict[str, int]]:
    both = sum(1 for t, o in zip(theirs, ours) if t and o)
    only_theirs = sum(1 for t, o in zip(theirs, ours) if t and not o)
    only_ours = sum(1 for t, o in zip(theirs, ours) if o and not t)
    n = len(theirs)
    lines = [f"documents {n:,}: both remove {both:,}, only datatrove {only_theirs:,}, only ours {only_ours:,}; "
             f"same decision on {(n - only_theirs - only_ours) / n:.2%}", "",
             "| datatrove reason | docs | we remove too | our reasons for them |", "|---|---|---|---|"]
    for reason, count in Counter(t for t in theirs if t).most_common():
        ours_for = Counter(o or "(kept)" for t, o in zip(theirs, ours) if t == reason)
        too = sum(v for k, v in ours_for.items() if k != "(kept)")
        lines.append(f"| {reason} | {count:,} | {too:,} | "
                     + ", ".join(f"{k} {v:,}" for k, v in ours_for.most_common(4)) + " |")
    lines += ["", "| our reason | docs | datatrove keeps |", "|---|---|---|"]
    for reason, count in Counter(o for o in ours if o).most_common():
        kept = sum(1 for t, o in zip(theirs, ours) if o == reason and not t)
        lines.append(f"| {reason} | {count:,} | {kept:,} |")
    return lines, {"both": both, "only_theirs": only_theirs, "only_ours": only_ours}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", type=int, default=2)
    ap.add_argument("--corpus", type=Path, default=CORPUS, help="folder of part-*.parquet shards (default: corpus_en)")
    ap.add_argument("--out", type=Path, default=None, help="also write the tables to this Markdown file")
    args = ap.parse_args()
    shards = sorted(args.corpus.glob("*.parquet"))[: args.parts]
    with tempfile.TemporaryDirectory() as tmp:
        decisions = Path(tmp) / "datatrove.parquet"
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env["HF_HOME"] = str(ENVS / "hf_home")
        subprocess.run([str(ENVS / "datatrove" / "bin" / "python"), str(HERE / "datatrove_decisions.py"),
                        str(decisions), *map(str, shards)], env=env, check=True)
        theirs = pq.read_table(decisions)
    table = pa.concat_tables([pq.read_table(s, columns=["id", "text"]) for s in shards])
    assert theirs.column("id").to_pylist() == table.column("id").to_pylist()
    out = [f"corpus_en parts 0-{args.parts - 1}; datatrove 0.10.1 filters one at a time vs ours", ""]
    for name, steps in OURS.items():
        lines, _ = agreement(theirs.column(name).to_pylist(), our_reasons(table, steps))
        out += [f"### {name}", "", *lines, ""]
    text = "\n".join(out)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
