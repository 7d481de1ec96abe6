"""Small datasets and recipe helpers for the core tests."""

from __future__ import annotations

import glob
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

WORDS = ("river stone light garden window paper music street winter summer table letter "
         "morning evening market school bridge forest harbor island").split()


def make_docs(n: int, seed: int = 0, dup_every: int = 7) -> list[dict[str, Any]]:
    """Documents of varied length; every `dup_every`-th repeats an earlier one."""
    import random

    rng = random.Random(seed)
    docs = []
    for i in range(n):
        if dup_every and i % dup_every == dup_every - 1 and i > 0:
            text = docs[rng.randrange(i)]["text"]
        else:
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 120))) + "."
        docs.append({"id": f"d{seed}-{i}", "text": text, "n": i})
    return docs


def write_parquet_shards(folder: Path, shards: int, per_shard: int, seed: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for s in range(shards):
        docs = make_docs(per_shard, seed=seed * 1000 + s)
        path = folder / f"part-{s:03d}.parquet"
        pq.write_table(pa.Table.from_pylist(docs), path, row_group_size=max(1, per_shard // 3))
        paths.append(path)
    return paths


def write_recipe(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def recipe_dict(input_path: str, out: str, steps: list[Any] | None = None, workers: int = 1, **extra: Any) -> dict[str, Any]:
    data = {
        "input": {"path": input_path, "batch_size": 50},
        "output": {"path": out, "report": False},
        "executor": {"type": "local", "workers": workers},
        "steps": steps if steps is not None else [
            {"normalize_text": {}},
            {"words_filter": {"min_words": 10}},
            {"exact_dedup": {}},
            {"text_length_filter": {"max_chars": 600}},
        ],
    }
    for key, value in extra.items():
        data[key].update(value)
    return data


def read_output(out: Path) -> list[dict[str, Any]]:
    rows = []
    for f in sorted(glob.glob(str(out / "*.parquet"))):
        rows += pq.read_table(f).to_pylist()
    return rows


def read_rejected(out: Path) -> list[dict[str, Any]]:
    rows = []
    for f in sorted(glob.glob(str(out / "rejected" / "*" / "*.parquet"))):
        rows += pq.read_table(f).to_pylist()
    return rows


def stats(out: Path) -> dict[str, Any]:
    return json.loads((out / "stats.json").read_text())


def read_quarantine(out: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for f in sorted((out / "quarantine").glob("*.parquet")):
        rows += pq.read_table(f).to_pylist()
    return rows
