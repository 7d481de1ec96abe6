"""`mix` then `tokenize` on the Ray executor (a local Ray instance, `address: null`, started and
stopped by the run) give byte-identical token files to the local executor."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT
from tests.core_helpers import write_recipe
from tests.tokens_helpers import run, token_files, tokenize_recipe, train_bpe, write_sample


def test_ray_writes_the_same_token_files_as_local(tmp_path: Path) -> None:
    bpe = train_bpe(tmp_path / "bpe")
    inputs = write_sample(tmp_path / "in", 3, 200)
    steps = [{"token_count": {"tokenizer": str(bpe)}},
             {"mix": {"weights": {"imdb": 0.5, "reuters21578": 0.3, "bbc_news": 0.2}, "total_tokens": 40_000}},
             {"tokenize": {"tokenizer": str(bpe), "formats": ["megatron", "parquet"], "validation_documents": 20,
                           "max_tokens_per_file": 10_000, "partitions": 3}}]
    local = tmp_path / "local"
    run(tokenize_recipe(f"{inputs}/*.parquet", local, steps))
    ray_out = tmp_path / "ray"
    recipe = write_recipe(tmp_path / "ray.yaml", tokenize_recipe(f"{inputs}/*.parquet", ray_out, steps, workers=2,
                                                                 executor="ray"))
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0",
               PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p))
    proc = subprocess.run([sys.executable, "-m", "pipeline.cli", "run", str(recipe), "--quiet"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    files = token_files(ray_out)
    assert len([n for n in files if n.endswith(".bin")]) > 2
    assert files == token_files(local)
