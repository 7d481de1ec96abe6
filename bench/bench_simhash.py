"""SimHash vs MinHash near-dedup. Parts (run both by default, or name some):

  truth     the near-duplicate ground truth of bench_dedup.py (3,000 corpus_en documents and
            1,500 copies with controlled edits, exact 5-gram Jaccard): pair recall and precision
            at Jaccard 0.5..0.95, minhash_dedup (defaults) vs simhash_dedup at Data-Juicer's
            settings (6 blocks / distance 4 / 6-word shingles, its default and most recipes;
            10/8/3 for short texts, pile-pubmed-abstract; 9/7/3, stackexchange)
  speed     `pipeline run` with one dedup step on corpus_en parts 0-3 (40k documents), 2
            workers, minhash and simhash interleaved, best of `--repeat`: docs/s, CPU s, peak RSS

Usage: PYTHONPATH=. python bench/bench_simhash.py [truth] [speed] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from measure import measure_run  # noqa: E402

from operators.dedup.minhash import MinHashDedup  # noqa: E402
from operators.dedup.simhash import SimHashDedup  # noqa: E402
from tests.dedup_helpers import near_duplicates, precision_recall  # noqa: E402

CORPUS = ROOT.parent / "shared" / "data" / "corpus_en"
if not CORPUS.exists():
    CORPUS = Path("/work/shared/data/corpus_en")
SETTINGS = {
    "minhash_dedup defaults (128 perms, 0.7 -> 16x8)": ("minhash_dedup", {}),
    "simhash_dedup 6 blocks, distance 4, 6 words (DJ default)": ("simhash_dedup", {}),
    "simhash_dedup 10 blocks, distance 8, 3 words (DJ pubmed-abstract)": (
        "simhash_dedup", {"blocks": 10, "distance": 8, "ngram": 3}),
    "simhash_dedup 9 blocks, distance 7, 3 words (DJ stackexchange)": (
        "simhash_dedup", {"blocks": 9, "distance": 7, "ngram": 3}),
}
OPS = {"minhash_dedup": MinHashDedup, "simhash_dedup": SimHashDedup}


def parts(n: int) -> list[str]:
    return sorted(str(p) for p in CORPUS.glob("part-*.parquet"))[:n]


def bench_truth() -> list[dict]:
    texts = pq.read_table(parts(1)[0], columns=["text"]).column("text").to_pylist()[:3000]
    truth = near_duplicates(texts, 1500, seed=7)  # bench_dedup.py's truth
    table = pa.table({"text": truth.texts, "_doc_key": np.arange(len(truth.texts), dtype=np.int64)})
    rows = []
    for label, (name, params) in SETTINGS.items():
        kept, removed, _ = OPS[name](cluster_columns=True, **params).run(table)
        clusters = pa.concat_tables([kept, removed]).sort_by("_doc_key").column("cluster_id").to_numpy()
        for row in precision_recall(truth, clusters, [0.5, 0.7, 0.8, 0.9, 0.95]):
            rows.append({"setting": label, **row, "removed": removed.num_rows})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def bench_speed(work: Path, repeat: int) -> list[dict]:
    runs: dict[str, list[dict]] = {}
    for r in range(repeat):
        for name in ("minhash_dedup", "simhash_dedup"):
            out = work / f"{name}-{r}"
            recipe = {"input": {"path": parts(4), "batch_size": 2000},
                      "output": {"path": str(out), "report": False, "rejected": False},
                      "executor": {"type": "local", "workers": 2}, "steps": [{name: {}}]}
            m = measure_run(recipe, work)
            stats = m["stats"]
            docs = stats["input"]["documents"]
            row = {"step": name, "run": r, "docs": docs, "removed": stats["removed"], "wall_s": round(m["wall_s"], 1),
                   "docs_per_s": round(docs / m["wall_s"]), "cpu_s": round(m["cpu_s"], 1),
                   "peak_rss_gb": round(m["peak_rss_gb"], 2), "stage_seconds": stats["steps"][0]["stages"]}
            print(json.dumps(row), flush=True)
            runs.setdefault(name, []).append(row)
            shutil.rmtree(out, ignore_errors=True)
    return [min(rows, key=lambda x: x["wall_s"]) for rows in runs.values()]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("parts", nargs="*", default=["truth", "speed"])
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-simhash-"))
    results: dict = {}
    try:
        if "truth" in args.parts:
            results["truth"] = bench_truth()
        if "speed" in args.parts:
            results["speed"] = bench_speed(work, args.repeat)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
