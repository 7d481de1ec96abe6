"""Dedup benchmark. Parts (run all by default, or name some):

  signatures  MinHash signatures per core: ours (numpy) vs datasketch's MinHash.bulk with the
              same shingles, permutations and hash, side by side on the same documents (CPU s)
  pipeline    `pipeline run` with minhash_dedup end to end: docs/s and peak RSS of the process
              tree, 1 vs 2 workers, on corpus_en parts 0-3 (40k docs) and all 16 parts (160k)
  truth       near-duplicate ground truth (corpus documents with controlled edits, exact
              Jaccard): precision and recall against the threshold, ours with defaults and with
              datatrove's (14x8) and Data-Juicer's (256 perms, 0.7) band settings
  decontam    planted benchmark items with light edits: recall; flagged untouched documents
  scale       N documents (corpus replicated with ciphered / perturbed copies): docs/s, peak RSS

Usage: python bench/bench_dedup.py [parts...] [--scale-docs 10000000] [--work DIR]
Absolute numbers move with the load of this shared 2-core machine; ratios are measured side by
side in the same run.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from measure import measure_run  # noqa: E402

from operators.dedup.hashing import word_windows  # noqa: E402
from operators.dedup.minhash_core import band_keys, lsh_params, permutations, shingle_hash32, signatures  # noqa: E402
from tests.dedup_helpers import near_duplicates, precision_recall  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
CORPUS = SHARED / "corpus_en"
PEERS = {"datatrove MinHash (PEERS.md, 2 workers)": 201, "Data-Juicer MinHash (PEERS.md, np=2)": 508}


def parts(n: int | None = None) -> list[str]:
    files = sorted(str(p) for p in CORPUS.glob("part-*.parquet"))
    if not files:
        raise SystemExit(f"no corpus at {CORPUS}")
    return files[:n] if n else files


def bench_signatures(docs: int = 10_000) -> dict:
    texts = pq.read_table(parts(1)[0], columns=["text"]).column("text").combine_chunks().slice(0, docs)
    a, b = permutations(128, 1)
    bands, rows = lsh_params(0.8, 128)
    t0 = time.process_time()
    for i in range(0, len(texts), 1000):
        windows, offsets = word_windows(texts.slice(i, 1000), 5)
        sig = signatures(shingle_hash32(windows), offsets, a, b)
        band_keys(sig, bands, rows)
    ours = len(texts) / (time.process_time() - t0)
    # datasketch on the same 32-bit shingle hashes (its hashing cost excluded: favours datasketch)
    from datasketch import MinHash

    sample = texts.slice(0, 1000)
    windows, offsets = word_windows(sample, 5)
    h32 = shingle_hash32(windows)
    sets = [h32[offsets[d]:offsets[d + 1]].tolist() for d in range(len(sample))]
    t0 = time.process_time()
    ref = MinHash.bulk(sets, num_perm=128, seed=1, hashfunc=int, scheme="affine32")
    theirs = len(sample) / (time.process_time() - t0)
    same = all(np.array_equal(m.hashvalues, s) for m, s in zip(ref, signatures(h32, offsets, a, b)))
    return {"ours_docs_per_cpu_s": ours, "datasketch_bulk_docs_per_cpu_s": theirs, "identical": same,
            "docs": len(texts)}


def run_pipeline(paths: list[str], workers: int, work: Path, params: dict | None = None, rejected: bool = True) -> dict:
    out = work / f"out-{workers}-{len(paths)}-{time.monotonic_ns()}"
    recipe = {"input": {"path": paths, "batch_size": 2000}, "output": {"path": str(out), "report": False, "rejected": rejected},
              "executor": {"type": "local", "workers": workers}, "steps": [{"minhash_dedup": params or {}}]}
    m = measure_run(recipe, work)
    stats = m["stats"]
    step = stats["steps"][0]
    shutil.rmtree(out, ignore_errors=True)
    docs = stats["input"]["documents"]
    return {"workers": workers, "docs": docs, "removed": stats["removed"], "wall_s": m["wall_s"],
            "docs_per_s": docs / m["wall_s"], "cpu_s": m["cpu_s"], "docs_per_cpu_s": docs / max(m["cpu_s"], 1e-9),
            "peak_rss_gb": m["peak_rss_gb"], "peak_rss_one_process_gb": m["peak_rss_one_process_gb"],
            "stage_seconds": step["stages"], "metrics": step["metrics"]}


def bench_pipeline(work: Path) -> list[dict]:
    rows = []
    for n in (4, 16):
        for workers in (1, 2):
            r = run_pipeline(parts(n), workers, work)
            r["parts"] = n
            rows.append(r)
            print(json.dumps({k: v for k, v in r.items() if k not in ("stage_seconds", "metrics")}), flush=True)
    return rows


def bench_truth(originals: int = 3000, copies: int = 1500) -> list[dict]:
    texts = pq.read_table(parts(1)[0], columns=["text"]).column("text").to_pylist()[:originals]
    truth = near_duplicates(texts, copies, seed=7)
    thresholds = [0.5, 0.6, 0.7, 0.8, 0.9]
    settings = {"ours (defaults: 128 perms, 0.7 -> 16x8)": {},
                "ours at datatrove's 14x8": {"num_perm": 112, "bands": 14, "rows": 8},
                "ours at Data-Juicer's 256 perms, 0.7 (25x10)": {"num_perm": 256, "bands": 25, "rows": 10},
                "ours, defaults + verify (exact Jaccard >= 0.7)": {"verify": True}}
    from operators.dedup.minhash import MinHashDedup

    rows = []
    table = pa.table({"text": truth.texts, "_doc_key": np.arange(len(truth.texts), dtype=np.int64)})
    for label, params in settings.items():
        op = MinHashDedup(cluster_columns=True, **params)
        kept, removed, _ = op.run(table)
        both = pa.concat_tables([kept, removed]).sort_by("_doc_key")
        clusters = both.column("cluster_id").to_numpy()
        for row in precision_recall(truth, clusters, thresholds):
            rows.append({"setting": label, **row})
    return rows


def bench_decontam(work: Path, planted_per_benchmark: int = 300) -> dict:
    rng = random.Random(3)
    items = []
    for path in sorted((SHARED / "benchmarks").glob("*.jsonl.gz")):
        texts = [json.loads(line)["text"] for line in gzip.open(path, "rt", encoding="utf-8")]
        eligible = [t for t in texts if len(re.findall(r"\w+", t)) >= 13]
        items += [(path.name.split(".")[0], t) for t in rng.sample(eligible, min(planted_per_benchmark, len(eligible)))]
    corpus = pa.concat_tables([pq.read_table(p, columns=["id", "text"]) for p in parts()])
    host = corpus.column("text").to_pylist()
    planted = []
    for i, (name, item) in enumerate(items):
        edited = item.upper() if i % 3 == 0 else re.sub(r"[,.;:?!]", "", item) if i % 3 == 1 else item.replace(" ", "\n", 3)
        planted.append({"id": f"planted-{name}-{i}", "text": f"{host[i][:400]}\n{edited}\n{host[-i - 1][:400]}"})
    folder = work / "decontam-in"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(planted), folder / "planted.parquet")
    for i, p in enumerate(parts()):
        shutil.copy(p, folder / f"corpus-{i:02d}.parquet")
    out = work / "decontam-out"
    recipe = {"input": {"path": str(folder), "id_column": "id"}, "output": {"path": str(out), "report": False},
              "executor": {"type": "local", "workers": 2},
              "steps": [{"decontaminate": {"benchmarks": [str(SHARED / "benchmarks" / "*.jsonl.gz")]}}]}
    rpath = work / "decontam.yaml"
    rpath.write_text(yaml.safe_dump(recipe))
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pipeline.cli", "run", str(rpath), "--quiet"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    removed = pa.concat_tables([pq.read_table(f, columns=["id", "reason"]) for f in out.glob("rejected/*/*.parquet")])
    ids = removed.column("id").to_pylist()
    found = sum(1 for i in ids if i.startswith("planted-"))
    flagged = [(i, r) for i, r in zip(ids, removed.column("reason").to_pylist()) if not i.startswith("planted-")]
    return {"planted": len(planted), "recall": found / len(planted), "untouched_docs": corpus.num_rows,
            "untouched_flagged": len(flagged), "flagged_by_benchmark": _count([r for _, r in flagged]),
            "flagged_examples": [i for i, _ in flagged[:10]], "wall_s": wall,
            "docs_per_s": (corpus.num_rows + len(planted)) / wall}


def _count(values: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


# ---- scale: the corpus replicated with ciphered and perturbed copies -----------------------

CIPHER = [("e", "3"), ("a", "4"), ("o", "0"), ("i", "1"), ("s", "5"), ("t", "7")]


def make_scaled_corpus(folder: Path, total_docs: int) -> int:
    """Copy c of the corpus has letter substitutions chosen by the bits of c // 2 (so copies with
    different ciphers share no words) and odd copies also lose their first sentence and gain a
    closing line: each odd copy is a near-duplicate of the even copy before it. Returns the
    number of documents written."""
    folder.mkdir(parents=True, exist_ok=True)
    source = [pq.read_table(p, columns=["text"]).column("text") for p in parts()]
    per_copy = sum(len(t) for t in source)
    copies = -(-total_docs // per_copy)
    written = 0
    for c in range(copies):
        for s, text in enumerate(source):
            if written >= total_docs:
                return written
            t = text.slice(0, min(len(text), total_docs - written))
            for bit, (old, new) in enumerate(CIPHER):
                if (c // 2) >> bit & 1:
                    t = pc.replace_substring(t, old, new)
            if c % 2:
                t = pc.binary_join_element_wise(pc.replace_substring_regex(t, r"^[^.]*\.", "", max_replacements=1),
                                                pa.scalar(f"Posted in archive copy {c}."), "\n")
            pq.write_table(pa.table({"id": pc.binary_join_element_wise(pa.scalar(f"c{c}-s{s}-"),
                                                                        pc.cast(pa.array(np.arange(len(t))), pa.string()), ""),
                                     "text": t}), folder / f"c{c:03d}-s{s:02d}.parquet", compression="lz4")
            written += len(t)
    return written


def bench_scale(work: Path, total_docs: int) -> dict:
    folder = work / f"scaled-{total_docs}"
    marker = work / f"scaled-{total_docs}.json"
    t0 = time.perf_counter()
    if marker.exists():  # generated by an earlier call with the same --work
        n = json.loads(marker.read_text())["documents"]
    else:
        n = make_scaled_corpus(folder, total_docs)
        marker.write_text(json.dumps({"documents": n}))
    made = time.perf_counter() - t0
    r = run_pipeline([str(folder)], 2, work, {"partitions": 64}, rejected=False)
    r["generate_s"] = made
    r["docs"] = n
    return r


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("parts", nargs="*", default=["signatures", "pipeline", "truth", "decontam"])
    ap.add_argument("--scale-docs", type=int, default=10_000_000)
    ap.add_argument("--work", default=None, help="scratch folder (default: a temporary one)")
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="bench-dedup-"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict = {}
    try:
        if "signatures" in args.parts:
            results["signatures"] = bench_signatures()
            print(json.dumps(results["signatures"]), flush=True)
        if "pipeline" in args.parts:
            results["pipeline"] = bench_pipeline(work)
            for r in results["pipeline"]:
                for peer, rate in PEERS.items():
                    r[f"x {peer}"] = r["docs_per_s"] / rate
        if "truth" in args.parts:
            results["truth"] = bench_truth()
            for r in results["truth"]:
                print(json.dumps(r), flush=True)
        if "decontam" in args.parts:
            results["decontam"] = bench_decontam(work)
            print(json.dumps(results["decontam"]), flush=True)
        if "scale" in args.parts:
            results["scale"] = bench_scale(work, args.scale_docs)
            print(json.dumps(results["scale"]), flush=True)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
