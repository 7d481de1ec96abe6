"""decontaminate: planted benchmark items with light edits are found (recall >= 0.99), spans are
cut cleanly, false positives on untouched corpus documents stay rare, counts reach stats.json."""

from __future__ import annotations

import gzip
import json
import random
import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from operators.dedup.decontaminate import Decontaminate
from pipeline.recipe import validate_recipe
from pipeline.runner import run_recipe
from tests.conftest import shared_path


def light_edit(text: str, rng: random.Random) -> str:
    """Case, punctuation and whitespace edits that a copy of a benchmark item might carry."""
    kind = rng.randrange(4)
    if kind == 0:
        text = text.upper() if rng.random() < 0.5 else text.lower()
    elif kind == 1:
        text = re.sub(r"[,.;:?!]", "", text)
    elif kind == 2:
        text = text.replace("’", "'").replace('"', "“") + "!!"
    else:
        text = re.sub(r" ", lambda m: "\n" if rng.random() < 0.1 else "  " if rng.random() < 0.1 else " ", text)
    return text


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    rng = random.Random(11)
    corpus = pq.read_table(shared_path("corpus_en/part-00002.parquet"), columns=["text"]).column("text").to_pylist()
    items = []
    for name in ("gsm8k", "mmlu", "humaneval"):
        path = shared_path(f"benchmarks/{name}.jsonl.gz")
        texts = [json.loads(line)["text"] for line in gzip.open(path, "rt", encoding="utf-8")]
        eligible = [t for t in texts if len(re.findall(r"\w+", t)) >= 13]
        items += [(name, t) for t in rng.sample(eligible, min(100, len(eligible)))]
    docs = []
    for i, (name, item) in enumerate(items):
        before, after = corpus[i][:300], corpus[-i - 1][:300]
        docs.append({"id": f"planted-{name}-{i}", "text": f"{before}\n{light_edit(item, rng)}\n{after}"})
    docs += [{"id": f"clean-{i}", "text": t} for i, t in enumerate(corpus[400:2400])]
    folder = tmp_path_factory.mktemp("decon") / "in"
    folder.mkdir()
    pq.write_table(pa.Table.from_pylist(docs[::2]), folder / "a.parquet")
    pq.write_table(pa.Table.from_pylist(docs[1::2]), folder / "b.parquet")
    return folder, docs, items


def _run(folder, out, params):
    recipe = validate_recipe({
        "input": {"path": str(folder), "id_column": "id", "batch_size": 256},
        "output": {"path": str(out), "report": False},
        "steps": [{"decontaminate": {"benchmarks": [str(shared_path("benchmarks")) + "/*.jsonl.gz"], **params}}],
    })
    result = run_recipe(recipe)
    kept = [r for f in sorted(out.glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
    removed = [r for f in sorted(out.glob("rejected/*/*.parquet")) for r in pq.read_table(f).to_pylist()]
    return kept, removed, result.stats["steps"][0]


def test_remove_mode_recall_false_positives_and_counts(tmp_path, planted):
    folder, docs, items = planted
    kept, removed, step = _run(folder, tmp_path / "out", {})
    planted_ids = {d["id"] for d in docs if d["id"].startswith("planted")}
    removed_ids = {r["id"] for r in removed}
    recall = len(planted_ids & removed_ids) / len(planted_ids)
    false_positives = removed_ids - planted_ids
    assert recall >= 0.99, sorted(planted_ids - removed_ids)[:5]
    assert len(false_positives) <= 4  # out of 2,000 untouched documents
    for r in removed:
        if r["id"] in planted_ids:
            assert r["reason"] == f"decontaminate:{r['id'].split('-')[1]}"
    metrics = step["metrics"]
    for name in ("gsm8k", "mmlu", "humaneval"):
        assert metrics[f"decontaminate:{name}:documents"] >= 99
        assert metrics[f"decontaminate:{name}:items"] > 100
    assert metrics["decontaminate:mmlu:items_too_short"] > 0  # MMLU has items under 8 words
    assert all(r["decontaminate_matches"] == 0 for r in kept)


def test_cut_mode_removes_the_item_and_keeps_surroundings(tmp_path, planted):
    folder, docs, items = planted
    kept, removed, step = _run(folder, tmp_path / "cut", {"mode": "cut"})
    by_id = {r["id"]: r for r in kept}
    planted_docs = [d for d in docs if d["id"].startswith("planted")]
    cut_clean = 0
    for d, (_, item) in zip(planted_docs, items):
        row = by_id.get(d["id"])
        assert row is not None  # surroundings remain, so the document stays
        before = d["text"].split("\n", 1)[0]
        assert row["text"].startswith(before[: len(before) // 2])
        words = re.findall(r"\w+", item.lower())
        middle = " ".join(words[len(words) // 2 - 3: len(words) // 2 + 3])
        cut_clean += middle not in " ".join(re.findall(r"\w+", row["text"].lower()))
    assert cut_clean / len(planted_docs) >= 0.99
    assert step["metrics"]["decontaminate:spans_cut"] >= len(planted_docs)


def test_short_items_match_whole_and_bad_benchmarks_are_named(tmp_path):
    bench = tmp_path / "tiny.jsonl"
    bench.write_text(json.dumps({"text": "What is the capital city of France today?"}) + "\n"
                     + json.dumps({"text": "Too short item"}) + "\n")
    op = Decontaminate(benchmarks=[str(bench)])
    kept, removed, reasons = op.run([{"text": "quiz: what is the capital city of France, today? Paris."},
                                     {"text": "too short item appears here"}])
    assert reasons.to_pylist() == ["decontaminate:tiny"] and kept.num_rows == 1
    assert op.pop_metrics()["decontaminate:tiny:items_too_short"] == 1
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"question": "x"}) + "\n")
    with pytest.raises(ValueError, match="bad.jsonl: line 1: field 'text'"):
        Decontaminate(benchmarks=[str(bad)]).run([{"text": "a"}])
    with pytest.raises(FileNotFoundError, match="no benchmark file"):
        Decontaminate(benchmarks=[str(tmp_path / "missing*.jsonl")]).run([{"text": "a"}])
