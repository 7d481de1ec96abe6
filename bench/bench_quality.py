"""Benchmark of the quality filters on ../shared/data/corpus_en, side by side in one run.

    .venv/bin/python bench/bench_quality.py [--parts 2] [--workers 1 2] [--langid] [--out FILE.md]  (last results: bench/RESULTS.md)

Measures, on the same documents (parts 0..N-1; PEERS.md measured datatrove on parts 0-1):
  A. fastText prediction alone: lid.176.ftz on every document (newlines replaced), in batches;
  B. the bare statistics of the rules after language ID, each on the documents that reach it
     (compute_stats / the cleaner's process, called directly on in-memory batches; no I/O);
  C. the whole fineweb_like.yaml recipe through `run_recipe` (Parquet in and out, rejected rows,
     accounting), with 1 worker and optionally more.
Target (issue 3): C <= 1.3 x (A + B); and C's documents/s >= 10 x datatrove's 44 (PEERS.md).
Prints per-operator seconds and the fraction of documents removed by each rule (stats.json).
With --langid: per-language accuracy of language_filter on the UDHR paragraphs.

The machine has 2 cores shared with other jobs: absolute numbers are noisy. CPU seconds
(process time, all threads) are printed next to wall seconds; compare within one run.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from operators import registry  # noqa: E402
from operators.quality.language import bundled_model_path, fasttext_module_info, load_fasttext  # noqa: E402
from operators.text.splitting import category_table, punctuation_chars, text_array  # noqa: E402
from pipeline.recipe import load_recipe  # noqa: E402
from pipeline.runner import run_recipe  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
DATATROVE_DOCS_PER_S = 44.0  # PEERS.md: FineWeb-like chain, 1 worker, parts 0-1
BATCH = 1000


class Clock:
    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0

    def __enter__(self) -> Clock:
        self._w, self._c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall += time.perf_counter() - self._w
        self.cpu += time.process_time() - self._c


def load_docs(parts: int) -> pa.Table:
    paths = [DATA / "corpus_en" / f"part-{i:05d}.parquet" for i in range(parts)]
    return pa.concat_tables([pq.read_table(p, columns=["id", "text"]) for p in paths])


def bench_fasttext(table: pa.Table) -> tuple[Clock, list[str | None], list[float]]:
    model = load_fasttext(bundled_model_path())
    clock = Clock()
    labels: list[str | None] = []
    scores: list[float] = []
    for start in range(0, table.num_rows, BATCH):
        with clock:
            lines = pc.replace_substring(text_array(table.slice(start, BATCH)), "\n", " ").to_pylist()
            out, probs = model.predict(lines, k=1)
        labels += [lab[0] for lab in out]
        scores += [float(p[0]) for p in probs]
    return clock, labels, scores


def bench_bare_stats(table: pa.Table, steps: list) -> dict[str, Clock]:
    """Each step after language ID on the documents that reach it; only statistics are timed."""
    clocks: dict[str, Clock] = {}
    for op in steps:
        op.ensure_setup()
    for start in range(0, table.num_rows, BATCH):
        batch = table.slice(start, BATCH)
        lang = steps[0]
        batch = lang.apply(batch).split()[0]  # not timed: that is benchmark A
        for op in steps[1:]:
            clock = clocks.setdefault(op.name, Clock())
            if op.kind == "mapper":
                with clock:
                    batch = op.process(batch)
                continue
            with clock:
                with_stats = op.compute_stats(batch)
            batch = with_stats.filter(pc.is_null(op.decide(with_stats)))
    return clocks


def bench_pipeline(parts: int, workers: int, tmp: Path) -> tuple[Clock, dict]:
    inputs = [str(DATA / "corpus_en" / f"part-{i:05d}.parquet") for i in range(parts)]
    out = tmp / f"run-w{workers}"
    recipe = load_recipe(ROOT / "configs" / "fineweb_like.yaml", [
        f"input.path={json.dumps(inputs)}", f"output.path={out}", f"executor.workers={workers}", "output.report=false"])
    clock = Clock()
    with clock:
        result = run_recipe(recipe, fresh=True, progress=False)
    return clock, result.stats


LONG_PARAGRAPH = 50  # characters; UDHR paragraphs include short headings such as "Article 1"


def langid_accuracy() -> tuple[list[tuple[str, str, int, float]], float, int, float, int]:
    """Per UDHR language with a lid.176 label: (iso639-3, label, paragraphs, accuracy)."""
    from operators.quality.language import LanguageFilter

    with gzip.open(DATA / "langid" / "udhr2_paragraphs.jsonl.gz", "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    f = LanguageFilter(min_score=0.0)
    langs: list[str | None] = []
    for start in range(0, len(rows), 4096):
        chunk = pa.table({"text": [r["text"] for r in rows[start:start + 4096]]})
        langs += f.compute_stats(chunk).column("lang").to_pylist()
    total: Counter = Counter()
    right: Counter = Counter()
    long_total = long_right = 0
    for row, lang in zip(rows, langs):
        label = ISO3_TO_LID.get(row["lang"])
        if label is None:
            continue
        total[row["lang"]] += 1
        right[row["lang"]] += lang == label
        if len(row["text"]) >= LONG_PARAGRAPH:
            long_total += 1
            long_right += lang == label
    per = sorted(((iso, ISO3_TO_LID[iso], total[iso], right[iso] / total[iso]) for iso in total), key=lambda x: x[3])
    overall = sum(right.values()) / max(1, sum(total.values()))
    return per, overall, sum(total.values()), long_right / max(1, long_total), long_total


# UDHR language codes (ISO 639-3) -> lid.176 labels, for the languages both cover. Macrolanguage
# members map to the macrolanguage label (cmn -> zh, pes -> fa, the Quechuas -> qu ...). UDHR
# "als" is Tosk Albanian (sq), not lid.176's "als" (Alemannic).
ISO3_TO_LID = {
    "afr": "af", "als": "sq", "amh": "am", "arb": "ar", "ast": "ast", "azj": "az", "bcl": "bcl", "bel": "be",
    "ben": "bn", "bod": "bo", "bos": "bs", "bre": "br", "bul": "bg", "cat": "ca", "ceb": "ceb", "ces": "cs",
    "ckb": "ckb", "cmn": "zh", "cos": "co", "cym": "cy", "dan": "da", "deu": "de", "div": "dv", "ell": "el",
    "eml": "eml", "eng": "en", "epo": "eo", "est": "et", "eus": "eu", "fin": "fi", "fra": "fr", "gla": "gd",
    "gle": "ga", "glg": "gl", "gug": "gn", "guj": "gu", "hat": "ht", "heb": "he", "hin": "hi", "hrv": "hr",
    "hsb": "hsb", "hun": "hu", "hye": "hy", "ido": "io", "ilo": "ilo", "ina": "ia", "ind": "id", "isl": "is",
    "ita": "it", "jav": "jv", "jpn": "ja", "kan": "kn", "kat": "ka", "kaz": "kk", "khk": "mn", "khm": "km",
    "kir": "ky", "kor": "ko", "lao": "lo", "lat": "la", "lav": "lv", "lit": "lt", "ltz": "lb", "mai": "mai",
    "mal": "ml", "mar": "mr", "min": "min", "mkd": "mk", "mlt": "mt", "mly": "ms", "mya": "my", "nds": "nds",
    "nep": "ne", "nld": "nl", "nno": "nn", "nob": "no", "oss": "os", "pam": "pam", "pan": "pa", "pbu": "ps",
    "pes": "fa", "pnb": "pnb", "pol": "pl", "por": "pt", "qud": "qu", "qug": "qu", "quy": "qu", "quz": "qu",
    "qva": "qu", "qvc": "qu", "qvh": "qu", "qvm": "qu", "qvn": "qu", "qwh": "qu", "qxa": "qu", "qxn": "qu",
    "qxu": "qu", "roh": "rm", "ron": "ro", "rus": "ru", "sah": "sah", "san": "sa", "sco": "sco", "slk": "sk",
    "slv": "sl", "som": "so", "spa": "es", "srp": "sr", "sun": "su", "swe": "sv", "swh": "sw", "tam": "ta",
    "tat": "tt", "tgk": "tg", "tgl": "tl", "tha": "th", "tuk": "tk", "tur": "tr", "tyv": "tyv", "uig": "ug",
    "ukr": "uk", "urd": "ur", "uzn": "uz", "vec": "vec", "vep": "vep", "vie": "vi", "war": "war", "wln": "wa",
    "ydd": "yi", "yor": "yo",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", type=int, default=2, help="corpus_en shards to use (PEERS.md: 2)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1], help="pipeline runs with these worker counts")
    parser.add_argument("--langid", action="store_true", help="also report UDHR per-language accuracy")
    parser.add_argument("--out", type=Path, default=None, help="write the results as Markdown here")
    args = parser.parse_args()

    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    table = load_docs(args.parts)
    n = table.num_rows
    category_table()
    punctuation_chars()  # per-process tables, built once (also in the pipeline's setup)
    recipe = load_recipe(ROOT / "configs" / "fineweb_like.yaml", check_input=False)
    steps = [registry.build(name, params) for name, params in recipe.step_specs()]
    say(f"# Quality filters benchmark ({date.today().isoformat()})")
    say()
    say(f"Command: `.venv/bin/python bench/bench_quality.py {' '.join(sys.argv[1:])}`")
    say(f"Documents: {n:,} (corpus_en parts 0..{args.parts - 1}); recipe: configs/fineweb_like.yaml; "
        f"batch {BATCH}; machine: {os.cpu_count()} cores shared with other jobs (noisy), load {os.getloadavg()[0]:.1f}")
    say(f"fastText module: {fasttext_module_info()}")
    say()

    ft, labels, scores = bench_fasttext(table)
    bare = bench_bare_stats(table, steps)
    bare_wall = sum(c.wall for c in bare.values())
    bare_cpu = sum(c.cpu for c in bare.values())
    runs = {}
    with tempfile.TemporaryDirectory(prefix="bench-quality-") as tmp:
        for w in args.workers:
            runs[w] = bench_pipeline(args.parts, w, Path(tmp))

    say("| measurement | wall s | CPU s | docs/s (wall) |")
    say("|---|---|---|---|")
    say(f"| A. fastText prediction (lid.176.ftz, all docs) | {ft.wall:.2f} | {ft.cpu:.2f} | {n / ft.wall:,.0f} |")
    for name, c in bare.items():
        say(f"| B. bare statistics: {name} | {c.wall:.2f} | {c.cpu:.2f} | |")
    say(f"| A + B | {ft.wall + bare_wall:.2f} | {ft.cpu + bare_cpu:.2f} | {n / (ft.wall + bare_wall):,.0f} |")
    for w, (clock, _stats) in runs.items():
        cpu = f"{clock.cpu:.2f}" if w == 1 else "(workers)"
        say(f"| C. pipeline run, {w} worker(s) | {clock.wall:.2f} | {cpu} | {n / clock.wall:,.0f} |")
    say()
    c1 = runs.get(1)
    if c1 is not None:
        clock = c1[0]
        say(f"**C / (A + B)**: wall {clock.wall / (ft.wall + bare_wall):.2f}x, CPU {clock.cpu / (ft.cpu + bare_cpu):.2f}x "
            f"(target <= 1.3x)")
        say(f"**vs datatrove** (44 docs/s, 1 worker, PEERS.md): {n / clock.wall / DATATROVE_DOCS_PER_S:.1f}x by wall time, "
            f"{n / clock.cpu / DATATROVE_DOCS_PER_S:.1f}x by CPU time (target >= 10x)")
        say()
    for w, (_clock, stats) in runs.items():
        say(f"Per operator, pipeline with {w} worker(s) (seconds summed over shards; removed / documents in):")
        say()
        say("| step | operator | in | kept | s | removed by rule |")
        say("|---|---|---|---|---|---|")
        for s in stats["steps"]:
            removed = ", ".join(f"{r} {k / s['documents_in']:.1%}" for r, k in sorted(s["removed"].items(), key=lambda x: -x[1]))
            if s.get("metrics"):  # a mapper's counters, e.g. the C4 cleaner's removed lines
                removed += "; " + ", ".join(f"{k} {int(v):,}" for k, v in sorted(s["metrics"].items()))
            say(f"| {s['index']} | {s['operator']} | {s['documents_in']:,} | {s['documents_out']:,} | {s['seconds']:.2f} | {removed} |")
        say()
        kept = stats["output"]["documents"]
        say(f"Kept {kept:,} of {n:,} ({kept / n:.1%}); datatrove kept 11,196 of 20,000 on parts 0-1 (PEERS.md).")
        say()
    en = sum(lab == "__label__en" for lab in labels)
    say(f"fastText top label `en` on {en / n:.1%} of the documents; score >= 0.65 on "
        f"{sum(lab == '__label__en' and s >= 0.65 for lab, s in zip(labels, scores)) / n:.1%}.")
    say()
    if args.langid:
        per, overall, count, long_acc, long_count = langid_accuracy()
        say(f"## language_filter on UDHR paragraphs ({count:,} paragraphs of {len(per)} languages with a lid.176 label)")
        say()
        say(f"Overall accuracy {overall:.1%}; {long_acc:.1%} on the {long_count:,} paragraphs of at least "
            f"{LONG_PARAGRAPH} characters (the rest are mostly headings like \"Article 1\"). Labels equal raw fastText's on every paragraph "
            "(tests/operators/quality/test_language.py). Per language (ISO 639-3 -> label: accuracy, paragraphs):")
        say()
        buckets = defaultdict(list)
        for iso, lab, cnt, acc in per:
            buckets["< 50%" if acc < 0.5 else "50-90%" if acc < 0.9 else ">= 90%"].append(f"{iso}->{lab} {acc:.0%} ({cnt})")
        for key in ("< 50%", "50-90%", ">= 90%"):
            say(f"- **{key}** ({len(buckets[key])}): " + ", ".join(buckets[key]))
        say()
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
