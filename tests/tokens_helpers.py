"""Shared pieces of the token-file tests: a byte-level BPE trained on corpus_en with the project's
trainer, corpus samples, recipes ending in `tokenize`, and readers of the token folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from operators.tokenizer.train import train_on_texts
from pipeline.recipe import validate_recipe
from pipeline.runner import run_recipe
from tests.conftest import shared_path


def train_bpe(folder: Path, vocab_size: int = 2000, documents: int = 1500, **params: Any) -> Path:
    """A byte-level BPE (GPT-2 style, <|endoftext|>) trained on the first documents of shard 0."""
    texts = pq.read_table(shared_path("corpus_en/part-00000.parquet"), columns=["text"]).column("text")
    train_on_texts(texts.slice(0, documents).to_pylist(), folder, vocab_size=vocab_size, held_out_documents=0,
                   **params)
    return folder / "tokenizer.json"


def write_sample(folder: Path, shards: int, rows: int) -> Path:
    """The first `rows` documents of the first `shards` corpus_en shards, as Parquet files."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(shards):
        table = pq.read_table(shared_path(f"corpus_en/part-{i:05d}.parquet")).slice(0, rows)
        pq.write_table(table, folder / f"part-{i:05d}.parquet")
    return folder


def tokenize_recipe(inputs: str, out: Path, steps: list[dict[str, Any]], workers: int = 1,
                    executor: str = "local", batch_size: int = 200) -> dict[str, Any]:
    return {"input": {"path": inputs, "batch_size": batch_size},
            "output": {"path": str(out), "report": False},
            "executor": {"type": executor, "workers": workers},
            "steps": steps}


def run(recipe: dict[str, Any]) -> dict[str, Any]:
    return run_recipe(validate_recipe(recipe), progress=False).stats


def manifest(out: Path, artifact: str = "tokens") -> dict[str, Any]:
    return json.loads((out / "artifacts" / artifact / "tokens.json").read_text())


def token_files(out: Path, artifact: str = "tokens") -> dict[str, bytes]:
    """Every file of the token folder, by name, with its bytes."""
    return {p.name: p.read_bytes() for p in sorted((out / "artifacts" / artifact).iterdir())}


def parquet_docs(out: Path, split: str = "train", artifact: str = "tokens") -> list[dict[str, Any]]:
    """The documents of a split's Parquet files, in file order."""
    rows: list[dict[str, Any]] = []
    for f in sorted((out / "artifacts" / artifact).glob(f"{split}_*.parquet")):
        rows += pq.read_table(f).to_pylist()
    return rows
