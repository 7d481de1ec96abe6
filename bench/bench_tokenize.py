"""Benchmark of the `tokenize` step.

1. Speed: the step (a `pipeline run` of a recipe with the one `tokenize` step, 1 worker: encode
   stage, global shuffle and write stage, and the run's own pass over the documents) against
   `tokenizers.Tokenizer.encode_batch` on the same documents in one process. Target: <= 1.15x.
2. Memory: end to end on 4 and on all 16 shards of corpus_en (2 workers), peak RSS of the process
   tree. Target: flat with corpus size, <= 1.2x between 4 and 16 shards.

    .venv/bin/python bench/bench_tokenize.py --speed-shards 1 --rss-shards 4 16

The tokenizer is a byte-level BPE trained here on the first documents of shard 0. The machine is
shared (2 cores): compare the figures measured side by side, and the CPU seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from measure import measure_run  # noqa: E402

from operators.tokenizer.train import train_on_texts  # noqa: E402

CORPUS = Path(os.environ.get("PIPELINE_SHARED_DATA", ROOT.parent / "shared" / "data")) / "corpus_en"


def recipe(files: list[Path], out: Path, tokenizer: Path, workers: int) -> dict:
    return {"input": {"path": [str(f) for f in files], "batch_size": 1000},
            "output": {"path": str(out), "report": False},
            "executor": {"type": "local", "workers": workers},
            "steps": [{"tokenize": {"tokenizer": str(tokenizer), "formats": ["megatron"]}}]}


def fresh(folder: Path) -> Path:
    """An output folder with no earlier run in it (a leftover one would only be resumed)."""
    shutil.rmtree(folder, ignore_errors=True)
    return folder


def baseline(files: list[Path], tokenizer: Path) -> dict:
    """encode_batch over the same documents, in batches of the same size, in one process."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer))
    out: dict = {}
    for method in ("encode_batch", "encode_batch_fast"):  # _fast: no offsets (what the step calls)
        encode = getattr(tok, method)
        wall = cpu = 0.0
        tokens = docs = 0
        for f in files:
            for batch in pq.ParquetFile(f).iter_batches(batch_size=1000, columns=["text"]):
                texts = batch.column(0).to_pylist()
                t0, c0 = time.perf_counter(), time.process_time()
                encoded = encode(texts, add_special_tokens=False)
                wall += time.perf_counter() - t0
                cpu += time.process_time() - c0
                tokens += sum(len(e.ids) for e in encoded)
                docs += len(texts)
        out[method] = {"wall_s": wall, "cpu_s": cpu, "tokens": tokens, "documents": docs}
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--speed-shards", type=int, default=1)
    p.add_argument("--rss-shards", type=int, nargs="*", default=[4, 16])
    p.add_argument("--vocab", type=int, default=8000)
    p.add_argument("--work", default=None)
    args = p.parse_args()
    files = sorted(CORPUS.glob("part-*.parquet"))
    work = Path(args.work or tempfile.mkdtemp(prefix="bench-tokenize-"))
    tok_dir = work / "bpe"
    if not (tok_dir / "tokenizer.json").exists():
        texts = pq.read_table(files[0], columns=["text"]).column("text").slice(0, 3000).to_pylist()
        train_on_texts(texts, tok_dir, vocab_size=args.vocab, held_out_documents=0)
    tokenizer = tok_dir / "tokenizer.json"
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    results: dict = {"load_before": load, "vocab": args.vocab}
    if args.speed_shards:
        chosen = files[:args.speed_shards]
        base = baseline(chosen, tokenizer)
        run = measure_run(recipe(chosen, fresh(work / "speed"), tokenizer, 1), work)
        step = run["stats"]["steps"][0]
        step_seconds = step["stage_seconds"] + step["seconds"]
        tokens = step["metrics"]["tokenize:tokens"]
        ref = base["encode_batch"]
        results["speed"] = {
            "shards": len(chosen), "documents": ref["documents"], "tokens_without_eos": ref["tokens"],
            "tokens_written": tokens,
            **{f"{m}_wall_s": round(b["wall_s"], 2) for m, b in base.items()},
            **{f"{m}_cpu_s": round(b["cpu_s"], 2) for m, b in base.items()},
            "step_wall_s": round(step_seconds, 2), "step_stages": {k: round(v, 2) for k, v in step["stages"].items()},
            "run_wall_s": round(run["wall_s"], 2), "run_cpu_s": round(run["cpu_s"], 2),
            "encode_batch_tokens_per_s": round(ref["tokens"] / ref["wall_s"]),
            "step_tokens_per_s": round(tokens / step_seconds),
            **{f"ratio_step_vs_{m}": round(step_seconds / b["wall_s"], 3) for m, b in base.items()},
            "ratio_run_vs_encode_batch": round(run["wall_s"] / ref["wall_s"], 3),
            # CPU seconds: the machine is shared, so wall time also measures the other jobs
            "ratio_run_cpu_vs_encode_batch_cpu": round(run["cpu_s"] / ref["cpu_s"], 3),
        }
        print(json.dumps(results["speed"], indent=2), flush=True)
    results["rss"] = []
    for n in args.rss_shards:
        run = measure_run(recipe(files[:n], fresh(work / f"rss{n}"), tokenizer, 2), work)
        step = run["stats"]["steps"][0]
        row = {"shards": n, "documents": run["stats"]["input"]["documents"], "tokens": step["metrics"]["tokenize:tokens"],
               "wall_s": round(run["wall_s"], 1), "cpu_s": round(run["cpu_s"], 1),
               "peak_rss_gb": round(run["peak_rss_gb"], 3), "peak_rss_one_process_gb": round(run["peak_rss_one_process_gb"], 3)}
        results["rss"].append(row)
        print(json.dumps(row), flush=True)
    if len(results["rss"]) >= 2:
        results["rss_ratio"] = round(results["rss"][-1]["peak_rss_gb"] / results["rss"][0]["peak_rss_gb"], 3)
    results["load_after"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
