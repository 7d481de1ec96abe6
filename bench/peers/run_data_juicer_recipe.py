"""Run one Data-Juicer recipe file with Data-Juicer 1.6.1 (the data_juicer environment's Python).

Usage: DATA_JUICER_MODELS_CACHE=bench/peers/_envs/dj_models run_data_juicer_recipe.py RECIPE INPUT_FOLDER WORK [--np 2]

The recipe's dataset_path, export_path and np are replaced; everything else runs as written.
Prints one JSON line: documents in, kept, removed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import pyarrow.parquet as pq


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("recipe", type=Path)
    ap.add_argument("inputs", type=Path)
    ap.add_argument("work", type=Path)
    ap.add_argument("--np", type=int, default=2)
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    os.environ["HF_DATASETS_CACHE"] = str(args.work / "hf_datasets")  # before datasets is imported
    import yaml
    from data_juicer.config import init_configs
    from data_juicer.core import DefaultExecutor

    files = sorted(args.inputs.glob("*.parquet"))
    docs_in = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    out = args.work / "out" / "kept.parquet"
    config = yaml.safe_load(args.recipe.read_text())
    config.update(dataset_path=str(args.inputs), export_path=str(out), np=args.np, open_tracer=False)
    path = args.work / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    DefaultExecutor(init_configs(args=["--config", str(path)])).run()
    kept = sum(pq.ParquetFile(f).metadata.num_rows for f in out.parent.glob("*.parquet"))
    print(json.dumps({"documents": docs_in, "kept": kept, "removed": docs_in - kept}))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
