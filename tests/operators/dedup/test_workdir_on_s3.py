"""The dedup operators with their work folder and artifacts on an object store (the real S3
server), as on a cloud cluster whose nodes share no disk: the same removed ids, the same kept
text and metrics, and byte for byte the same intermediate files and index as on local disk.
Their own path parameters (`against`, `benchmarks`) may be URLs."""

from __future__ import annotations

import gzip
import json
import random

from operators.dedup.decontaminate import Decontaminate
from operators.dedup.exact import ExactDedup
from operators.dedup.lines import LineDedup
from operators.dedup.minhash import MinHashDedup
from operators.dedup.simhash import SimHashDedup
from storage import files
from tests.operators.stage_runner import run_stages, sentence, shard_tables, tree

BOILERPLATE = "Subscribe to our newsletter for weekly updates"


def corpus(seed: int = 7) -> tuple[list[str], list[float]]:
    rng = random.Random(seed)
    base = [sentence(rng, 40) for _ in range(150)]
    texts = list(base)
    texts += [base[i] for i in range(0, 150, 7)]  # exact copies
    for i in range(3, 150, 5):  # near copies: one word changed
        words = base[i].split()
        words[rng.randrange(len(words))] = "zebra"
        texts.append(" ".join(words))
    texts = [f"{t}\n{BOILERPLATE}" if i % 4 == 0 else t for i, t in enumerate(texts)]
    rng.shuffle(texts)
    return texts, [rng.random() for _ in texts]


def both(make, places, shards, **kwargs):
    """The operator's outcome with local folders, then with S3 folders; checks they agree."""
    local_work, local_art, s3_work, s3_art = places
    local = run_stages(make(), shards, local_work, local_art, **kwargs)
    remote = run_stages(make(), shards, s3_work, s3_art, **kwargs)
    assert remote.removed == local.removed
    assert remote.kept.equals(local.kept)
    assert remote.metrics == local.metrics
    assert tree(s3_work) == tree(local_work) and tree(local_work)  # the same intermediate files, byte for byte
    assert tree(s3_art) == tree(local_art)
    return local


def test_exact_dedup_with_work_and_index_on_s3(places) -> None:
    texts, _ = corpus()
    shards = shard_tables(texts, 3)
    out = both(lambda: ExactDedup(partitions=4), places, shards)
    assert {r for _, r in out.removed} == {"exact_dedup:duplicate"} and len(out.removed) >= 8
    # a later run deduplicates against the index saved on S3, named by URL
    index_url = str(places[3] / "exact_dedup_index")
    assert index_url.startswith("s3://") and files.exists(f"{index_url}/index.json")
    rng = random.Random(3)
    later = shard_tables([texts[0], texts[5], sentence(rng, 30), texts[9]], 2)
    local_index = str(places[1] / "exact_dedup_index")
    from_local = run_stages(ExactDedup(partitions=2, against=[local_index], save_index=False), later,
                            places[0] / "later", places[1])
    from_s3 = run_stages(ExactDedup(partitions=2, against=[index_url], save_index=False), later,
                         places[2] / "later", places[3])
    assert from_s3.removed == from_local.removed
    assert [r for _, r in from_s3.removed] == ["exact_dedup:in_index"] * 3


def test_minhash_with_verification_and_keep_column_on_s3(places) -> None:
    texts, score = corpus()
    shards = shard_tables(texts, 3, {"score": score})
    out = both(lambda: MinHashDedup(partitions=3, verify=True, keep_column="score", cluster_columns=True,
                                    cc_rounds=3), places, shards)
    assert len(out.removed) >= 30 and out.metrics["minhash_dedup:clusters"] >= 30


def test_simhash_on_s3(places) -> None:
    texts, score = corpus()
    shards = shard_tables(texts, 2, {"score": score})
    out = both(lambda: SimHashDedup(partitions=3, keep_column="score", cc_rounds=2), places, shards)
    assert len(out.removed) >= 10


def test_line_dedup_on_s3(places) -> None:
    texts, _ = corpus()
    out = both(lambda: LineDedup(partitions=4), places, shard_tables(texts, 3))
    assert out.metrics["line_dedup:lines_removed"] > 40
    assert sum(BOILERPLATE in t for t in out.kept.column("text").to_pylist()) == 1


def test_decontaminate_with_benchmarks_on_s3(places, tmp_path) -> None:
    texts, _ = corpus()
    items = [" ".join(texts[i].split()[5:25]) for i in (2, 40, 77)] + ["too short to index"]
    data = gzip.compress("".join(json.dumps({"question": q}) + "\n" for q in items).encode())
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "quiz.jsonl.gz").write_bytes(data)
    remote_bench = places[2].parent / "bench" / "quiz.jsonl.gz"
    remote_bench.write_bytes(data)
    local_work, local_art, s3_work, s3_art = places
    shards = shard_tables(texts, 2)
    local = run_stages(Decontaminate(benchmarks=[str(tmp_path / "bench" / "*.jsonl.gz")], text_field="question"),
                       shards, local_work, local_art)
    remote = run_stages(Decontaminate(benchmarks=[str(remote_bench.parent) + "/*.jsonl.gz"], text_field="question"),
                        shards, s3_work, s3_art)
    assert remote.removed == local.removed and len(local.removed) >= 3
    assert {r for _, r in local.removed} == {"decontaminate:quiz"}
    assert remote.metrics == local.metrics and local.metrics["decontaminate:quiz:items_too_short"] == 1
    assert tree(s3_work) == tree(local_work)
