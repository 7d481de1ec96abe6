"""minhash_dedup: hashing, signatures and LSH against datasketch, components, the operator in
the pipeline (worker counts, keep rules, cluster columns, verification, short documents)."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datasketch import MinHash, MinHashLSH
from datasketch.lsh import _optimal_param
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from operators.base import SHARD_BITS
from operators.dedup.components import PartitionedComponents, min_labels
from operators.dedup.hashing import (
    hash_strings,
    py_string_hash,
    py_window_hash,
    py_words,
    window_hashes,
    word_windows,
    words,
)
from operators.dedup.minhash import MinHashDedup
from operators.dedup.minhash_core import band_keys, lsh_params, permutations, shingle_hash32, signatures
from pipeline.recipe import validate_recipe
from pipeline.runner import run_recipe
from tests.conftest import shared_path
from tests.dedup_helpers import near_duplicates, precision_recall


@pytest.fixture(scope="module")
def corpus_texts() -> list[str]:
    path = shared_path("corpus_en/part-00001.parquet")
    return pq.read_table(path, columns=["text"]).column("text").to_pylist()[:400]


def test_vectorized_hashes_equal_their_python_definition():
    texts = ["Hello, World! the quick brown fox", "", "a b", None, "x y z w v u t s", "naïve café ünïcode — ok",
             "  \u00a0tabs\tand\u2003spaces\u3000«quoted» don’t 𝔘𝔫𝔦 ", "  a  b "]
    w = words(pa.array(texts))
    assert [w.of(d) for d in range(len(texts))] == [py_words(t or "") for t in texts]
    assert w.of(6) == ["tabs", "and", "spaces", "quoted", "don", "t", "𝔘𝔫𝔦"] and w.of(7) == ["a", "b"]
    flat_words = [x for d in range(len(texts)) for x in w.of(d)]
    assert [int(x) for x in w.hashes] == [py_string_hash(x.encode()) for x in flat_words]
    assert [int(x) for x in hash_strings(pa.array(flat_words))] == [int(x) for x in w.hashes]
    offsets = w.offsets
    h, woff = window_hashes(w.hashes, offsets, 5)
    expected = []
    flat = [x.encode() for x in flat_words]
    for d in range(len(texts)):
        dw = flat[offsets[d]:offsets[d + 1]]
        if 0 < len(dw) < 5:
            expected.append(py_window_hash(dw))  # a short document is one shingle, hashed whole
        expected += [py_window_hash(dw[j:j + 5]) for j in range(len(dw) - 4)]
    assert [int(x) for x in h] == expected
    assert list(np.diff(woff)) == [2, 0, 1, 0, 4, 1, 3, 1]


def test_words_of_random_unicode_equal_their_python_definition():
    """Separator classes are looked up per code point as batches bring new ones: code points of
    every plane (letters, marks, digits, Z/P/S separators, unassigned) split as `py_words` does."""
    rng = random.Random(5)
    pools = [range(0x20, 0x7F), range(0xA0, 0x3000), range(0x1F300, 0x1F700), range(0x20000, 0x20100),
             range(0x30000, 0x30010), range(0xE0000, 0xE0080), range(0x10FFF0, 0x110000)]
    alphabet = [chr(c) for pool in pools for c in pool if not 0xD800 <= c < 0xE000]
    for _batch in range(3):  # later batches meet code points the earlier ones did not
        texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80))) for _ in range(200)]
        for punctuation in (True, False):
            # not lowercased: Python's str.lower() knows the final sigma, Arrow's utf8_lower does not
            w = words(pa.array(texts), lowercase=False, strip_punctuation=punctuation)
            expected = [py_words(t, lowercase=False, strip_punctuation=punctuation) for t in texts]
            assert [w.of(d) for d in range(len(texts))] == expected
            flat = [x for d in range(len(texts)) for x in w.of(d)]
            assert [int(x) for x in w.hashes] == [py_string_hash(x.encode()) for x in flat]


def test_signatures_identical_to_datasketch(corpus_texts):
    texts = corpus_texts[:60]
    windows, offsets = word_windows(pa.array(texts), 5)
    h32 = shingle_hash32(windows)
    a, b = permutations(64, seed=7)
    sig = signatures(h32, offsets, a, b)
    for d in range(len(texts)):
        m = MinHash(num_perm=64, seed=7, hashfunc=int, scheme="affine32")
        m.update_batch(h32[offsets[d]:offsets[d + 1]].tolist())
        assert np.array_equal(m.hashvalues, sig[d]), d


@pytest.mark.parametrize("threshold,num_perm,weights", [(0.8, 128, (0.5, 0.5)), (0.7, 256, (0.5, 0.5)),
                                                        (0.5, 64, (0.3, 0.7)), (0.9, 100, (0.8, 0.2)),
                                                        (0.35, 32, (0.5, 0.5))])
def test_band_choice_matches_datasketch(threshold, num_perm, weights):
    assert lsh_params(threshold, num_perm, *weights) == _optimal_param(threshold, num_perm, *weights)


def test_candidate_pairs_match_datasketch_lsh(corpus_texts):
    truth = near_duplicates(corpus_texts[:150], copies=60, seed=3)
    windows, offsets = word_windows(pa.array(truth.texts), 5)
    a, b = permutations(128, seed=1)
    sig = signatures(shingle_hash32(windows), offsets, a, b)
    bands, rows = lsh_params(0.6, 128)
    keys = band_keys(sig, bands, rows)
    ours = set()
    for band in range(bands):
        buckets: dict[int, list[int]] = {}
        for d, k in enumerate(keys[:, band].tolist()):
            buckets.setdefault(k, []).append(d)
        ours |= {(x, y) for docs in buckets.values() for i, x in enumerate(docs) for y in docs[i + 1:]}
    lsh = MinHashLSH(threshold=0.6, num_perm=128)
    sketches = [MinHash(num_perm=128, hashvalues=sig[d], scheme="affine32") for d in range(len(truth.texts))]
    for d, m in enumerate(sketches):
        lsh.insert(d, m)
    theirs = {(min(d, e), max(d, e)) for d, m in enumerate(sketches) for e in lsh.query(m) if e != d}
    assert (lsh.b, lsh.r) == (bands, rows)
    assert ours == theirs and len(ours) >= 30


def _reference_components(u: np.ndarray, v: np.ndarray) -> dict[int, int]:
    nodes, inv = np.unique(np.concatenate([u, v]), return_inverse=True)
    n = len(nodes)
    g = coo_matrix((np.ones(len(u)), (inv[: len(u)], inv[len(u):])), shape=(n, n))
    _, label = connected_components(g, directed=False)
    low = {}
    for i in np.argsort(nodes):
        low.setdefault(label[i], nodes[i])
    return {int(nodes[i]): int(low[label[i]]) for i in range(n)}


@pytest.mark.parametrize("shape,rounds", [("random", 8), ("chain", 8), ("chain", 1)])
def test_partitioned_components_match_scipy(tmp_path, shape, rounds):
    rng = np.random.default_rng(0)
    n, shards = 3000, 7
    if shape == "random":
        u, v = rng.integers(0, n, 2200), rng.integers(0, n, 2200)
    else:
        perm = rng.permutation(n)
        u, v = perm[:-1], perm[1:]
    key = lambda x: ((x % shards).astype(np.int64) << SHARD_BITS) | (x // shards)  # noqa: E731
    u, v = key(u), key(v)
    expected = _reference_components(u, v)
    nodes, low = min_labels(u, v)
    assert dict(zip(nodes.tolist(), low.tolist())) == expected
    cc = PartitionedComponents(tmp_path, partitions=4, num_shards=shards, rounds=rounds)
    cc.send(cc.inbox(0), 0, u, v)
    for r in range(rounds):
        for p in range(4):
            cc.run_round(r, p)
    info = cc.finish()
    got = {}
    for p in range(4):
        a, b = cc.labels(p)
        assert np.all(cc.owner(a) == p)  # each partition answers only for its own nodes
        got.update(zip(a.tolist(), b.tolist()))
    assert got == expected
    assert ("cc_fallback_edges" in info) == (rounds == 1)


def _write_shards(folder: Path, texts: list[str], shards: int, extra: dict | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    per = -(-len(texts) // shards)
    for s in range(shards):
        rows = {"id": [f"d{i}" for i in range(s * per, min(len(texts), (s + 1) * per))]}
        rows["text"] = texts[s * per:(s + 1) * per]
        for k, vals in (extra or {}).items():
            rows[k] = vals[s * per:(s + 1) * per]
        pq.write_table(pa.table(rows), folder / f"part-{s}.parquet")


def _run(tmp_path: Path, name: str, params: dict, workers: int = 1) -> tuple[list[dict], list[dict], dict]:
    out = tmp_path / name
    recipe = validate_recipe({
        "input": {"path": str(tmp_path / "in" / "*.parquet"), "id_column": "id", "batch_size": 64},
        "output": {"path": str(out), "report": False},
        "executor": {"type": "local", "workers": workers},
        "steps": [{"minhash_dedup": params}],
    })
    result = run_recipe(recipe)
    kept = [r for f in sorted(out.glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
    removed = [r for f in sorted(out.glob("rejected/*/*.parquet")) for r in pq.read_table(f).to_pylist()]
    return kept, removed, result.stats


def test_pipeline_finds_planted_near_duplicates_same_for_any_worker_count(tmp_path, corpus_texts):
    truth = near_duplicates(corpus_texts[:250], copies=120, seed=1)
    random.Random(5).shuffle(order := list(range(len(truth.texts))))
    texts = [truth.texts[i] for i in order]
    _write_shards(tmp_path / "in", texts, shards=5)
    params = {"cluster_columns": True, "partitions": 3, "threshold": 0.7}
    kept1, removed1, stats1 = _run(tmp_path, "w1", params, workers=1)
    kept2, removed2, _ = _run(tmp_path, "w2", params, workers=2)
    assert kept1 == kept2 and removed1 == removed2
    assert {r["reason"] for r in removed1} == {"minhash_dedup:duplicate"}
    # one survivor per cluster: the first in corpus order, and every cluster accounted for
    rows = sorted(kept1 + removed1, key=lambda r: int(r["id"][1:]))
    clusters = np.array([r["cluster_id"] for r in rows])
    kept_ids = {r["id"] for r in kept1}
    for cid in set(clusters.tolist()):
        members = [r for r in rows if r["cluster_id"] == cid]
        assert all(r["cluster_size"] == len(members) for r in members)
        assert [r["id"] for r in members if r["id"] in kept_ids] == [members[0]["id"]]
    # recall of planted pairs well above the threshold; precision of what was merged
    by_text_index = np.empty(len(texts), dtype=np.int64)
    for pos, original in enumerate(order):
        by_text_index[original] = clusters[pos]
    pr = {row["threshold"]: row for row in precision_recall(truth, by_text_index, [0.5, 0.7, 0.85])}
    assert pr[0.85]["recall"] >= 0.95 and pr[0.85]["planted_pairs"] >= 20
    assert pr[0.5]["precision"] >= 0.9
    step = stats1["steps"][0]
    assert step["removed"]["minhash_dedup:duplicate"] == len(removed1) > 20
    assert step["metrics"]["minhash_dedup:clusters"] >= 20


def test_keep_column_verify_and_short_documents(tmp_path, corpus_texts):
    base = [t for t in corpus_texts if len(t.split()) > 60][:40]
    texts = base + [t + " extra words at the end" for t in base[:10]]  # near copies, later in order
    texts += ["tiny doc", "tiny doc", "Tiny, doc!", "", "   ", "one"]  # shorter than a shingle: hashed whole
    quality = [0.0] * len(base) + [1.0] * 10 + [0.0] * 6
    _write_shards(tmp_path / "in", texts, shards=2, extra={"quality": quality})
    kept, removed, _ = _run(tmp_path, "keep", {"keep_column": "quality"})
    removed_ids = {r["id"] for r in removed}
    assert {f"d{i}" for i in range(10)} <= removed_ids  # originals lose to higher-quality copies
    assert {"d51", "d52"} <= removed_ids and "d50" not in removed_ids  # first of the identical short docs kept
    assert {"d53", "d54", "d55"}.isdisjoint(removed_ids)  # empty documents are never duplicates
    # a deliberately loose LSH (1 row per band) makes false candidates; verification drops them
    loose = {"bands": 64, "rows": 1, "num_perm": 64}
    _, removed_loose, _ = _run(tmp_path, "loose", loose)
    _, removed_checked, stats = _run(tmp_path, "checked", {**loose, "verify": True})
    assert len(removed_loose) > len(removed_checked)
    assert {f"d{i}" for i in range(40, 50)} <= {r["id"] for r in removed_checked}
    assert stats["steps"][0]["metrics"]["minhash_dedup:pairs_below_threshold"] > 0


def test_python_api_and_parameter_checks():
    docs = [{"text": "the cat sat on the mat and looked at the dog"}, {"text": "The cat sat on the mat, and looked at the dog!"},
            {"text": "something else entirely different from the rest here"}]
    kept, removed, reasons = MinHashDedup().run(docs)
    assert kept.num_rows == 2 and reasons.to_pylist() == ["minhash_dedup:duplicate"]
    with pytest.raises(ValueError):
        MinHashDedup(bands=20, rows=10, num_perm=128)
    with pytest.raises(ValueError):
        MinHashDedup(bands=4)
    assert MinHashDedup().band_params() == (16, 8)
