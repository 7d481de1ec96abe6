"""Drive Data-Juicer 1.6.1 (run with the data_juicer environment's Python, see make_envs.py).

Usage: DATA_JUICER_MODELS_CACHE=bench/peers/_envs/dj_models run_data_juicer.py {chain,minhash,recipe} INPUT_FOLDER WORK_FOLDER [--np 2] [--recipe FILE]

chain:   language_id_score_filter(en, 0.65) -> word_repetition_filter -> special_characters_filter
         -> words_num_filter -> clean_email_mapper -> clean_ip_mapper (every other parameter at its default)
minhash: document_minhash_deduplicator with its defaults (5-grams, 256 permutations, Jaccard 0.7)
recipe:  a Data-Juicer recipe file (--recipe) as written (bench_dj_recipe.py)
The model cache holds lid.176.bin (make_envs.py), so nothing is downloaded. Data-Juicer's dataset cache
lives in WORK_FOLDER, so no run reuses another's cached results. Prints one JSON line: documents in,
kept, removed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import pyarrow.parquet as pq

CHAIN = [{"language_id_score_filter": {"lang": "en", "min_score": 0.65}}, {"word_repetition_filter": {}},
         {"special_characters_filter": {}}, {"words_num_filter": {}}, {"clean_email_mapper": {}},
         {"clean_ip_mapper": {}}]
MINHASH = [{"document_minhash_deduplicator": {}}]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["chain", "minhash", "recipe"])
    ap.add_argument("inputs", type=Path)
    ap.add_argument("work", type=Path)
    ap.add_argument("--np", type=int, default=2)
    ap.add_argument("--recipe", type=Path, help="with `recipe`: a Data-Juicer recipe file, run as written")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    os.environ["HF_DATASETS_CACHE"] = str(args.work / "hf_datasets")  # before datasets is imported
    import yaml
    from data_juicer.config import init_configs
    from data_juicer.core import DefaultExecutor

    files = sorted(args.inputs.glob("*.parquet"))
    docs_in = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    out = args.work / "out" / "kept.parquet"
    if args.what == "recipe":  # its own settings, but our data, output and process count
        config = {**yaml.safe_load(args.recipe.read_text()), "open_tracer": False}
    else:
        config = {"project_name": f"peers-{args.what}", "process": CHAIN if args.what == "chain" else MINHASH}
    config.update(dataset_path=str(args.inputs), export_path=str(out), np=args.np)
    path = args.work / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    DefaultExecutor(init_configs(args=["--config", str(path)])).run()
    kept = sum(pq.ParquetFile(f).metadata.num_rows for f in out.parent.glob("*.parquet"))
    print(json.dumps({"documents": docs_in, "kept": kept, "removed": docs_in - kept}))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
