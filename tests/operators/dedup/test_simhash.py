"""simhash_dedup: the SimHash definition, the block tables against brute force, Data-Juicer's
test case, and the operator in the pipeline (worker counts, keep rule, short documents)."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from operators.dedup import simhash_core
from operators.dedup.hashing import word_windows
from operators.dedup.simhash import SimHashDedup
from operators.dedup.simhash_core import char_windows, close_pairs, hamming, simhashes, table_keys, table_masks
from pipeline.recipe import validate_recipe
from pipeline.runner import run_recipe
from tests.conftest import shared_path
from tests.dedup_helpers import near_duplicates


@pytest.fixture(scope="module")
def corpus_texts() -> list[str]:
    path = shared_path("corpus_en/part-00001.parquet")
    return pq.read_table(path, columns=["text"]).column("text").to_pylist()[:400]


def py_simhash(shingles: list[int]) -> int:
    out = 0
    for b in range(64):
        if 2 * sum((s >> b) & 1 for s in shingles) > len(shingles):
            out |= 1 << b
    return out


@pytest.mark.parametrize("slice_size", [1 << 18, 1000])
def test_simhash_is_the_bitwise_majority_of_shingle_hashes(corpus_texts, slice_size, monkeypatch):
    monkeypatch.setattr(simhash_core, "SLICE", slice_size)  # 1000: documents span several slices
    texts = corpus_texts[:25] + ["", ""] + corpus_texts[25:50] + ["a b c", "one two three four five six seven", ""]
    texts.append(" ".join(corpus_texts[:40]))  # one document of more than 255 shingles per lane segment
    windows, offsets = word_windows(pa.array(texts), 6)
    got = simhashes(windows, offsets)
    for d in range(len(texts)):
        assert int(got[d]) == py_simhash([int(x) for x in windows[offsets[d]:offsets[d + 1]]])


@pytest.mark.parametrize("blocks,distance", [(6, 4), (10, 8), (9, 7), (4, 0), (5, 2)])
def test_tables_find_exactly_the_pairs_within_distance(blocks, distance):
    rng = np.random.default_rng(blocks * 10 + distance)
    base = rng.integers(0, 2**63, size=150, dtype=np.uint64) * np.uint64(2) + rng.integers(0, 2, 150).astype(np.uint64)
    hashes = [base]
    for flips in range(0, distance + 3):  # variants at distances around the threshold
        v = base[:40].copy()
        for i in range(len(v)):
            for bit in rng.choice(64, size=flips, replace=False):
                v[i] ^= np.uint64(1) << np.uint64(int(bit))
        hashes.append(v)
    h = np.concatenate(hashes)
    docs = np.arange(len(h), dtype=np.int64)
    masks = table_masks(blocks, distance)
    keys = table_keys(h, masks)
    u, v, counts = close_pairs(keys.ravel(), np.repeat(h, len(masks)), np.tile(np.arange(len(masks), dtype=np.int16), len(h)),
                               np.repeat(docs, len(masks)), distance)
    # documents with identical hashes are linked to the first of them (a star); between
    # distinct hashes, every pair within the distance is found between those first documents
    first = {}
    rep = np.array([first.setdefault(int(x), d) for d, x in enumerate(h)])
    stars = {(a, b) for a, b in zip(u.tolist(), v.tolist()) if h[a] == h[b]}
    assert stars == {(int(rep[d]), d) for d in range(len(h)) if rep[d] != d}
    assert counts["identical_hash_links"] == len(stars)
    found = {(min(a, b), max(a, b)) for a, b in zip(u.tolist(), v.tolist()) if h[a] != h[b]}
    i, j = np.triu_indices(len(h), 1)
    close = (hamming(h[i], h[j]) <= distance) & (h[i] != h[j])
    expected = {(min(a, b), max(a, b)) for a, b in zip(rep[i[close]].tolist(), rep[j[close]].tolist())}
    assert found == expected and (len(expected) > 40 or distance == 0)


def test_data_juicer_english_case():
    """Data-Juicer tests/ops/deduplicator/test_document_simhash_deduplicator.py
    (test_english_deduplication @43be991): the four short sentences all stay (even the two
    "Today is Sunday" ones, which share few 6-word shingles), the exact repeat of the last one
    goes, and of the near-identical long articles only the first stays. DJ's long articles are
    one news story with a few words changed ("plant"/"plants", "pigs"/"pig"); here the longest
    of 400 corpus documents (2,332 words) gets one such edit (distance 2). SimHash at distance 4
    is strict: three such edits in that document already give distance 5.

    Data-Juicer's Chinese case: see test_data_juicer_chinese_case."""
    short = ["Today is Sunday and it's a happy day!", "Do you need a cup of coffee?",
             "Today is sunday and it's really a happy day!", "This paper proposed a novel method on LLM pretraining."]
    article = pq.read_table(shared_path("corpus_en/part-00001.parquet"), columns=["text"]).column("text").to_pylist()
    long_doc = max(article[:400], key=len)
    words = long_doc.split()
    edited = " ".join(w + "s" if i == 5 else w for i, w in enumerate(words))
    texts = short + [long_doc, edited, short[3]]
    kept, removed, reasons = SimHashDedup().run([{"text": t} for t in texts])
    assert kept.column("text").to_pylist() == short + [long_doc]
    assert removed.column("text").to_pylist() == [edited, short[3]]
    assert set(reasons.to_pylist()) == {"simhash_dedup:duplicate"}


def test_data_juicer_chinese_case():
    """Data-Juicer test_chinese_deduplication (same file and commit), with character shingles
    (its `tokenization: character`, `ignore_pattern: \\p{P}`): two short greetings stay, of two
    long near-identical documents (a UN report; the second lacks three characters) only the
    first stays. Here the long document is 40 paragraphs of the Chinese Universal Declaration
    of Human Rights (shared langid data), the copy lacks two characters. Word shingles do not
    see the duplicate: without spaces, a "word" is a whole clause."""
    import gzip
    import json

    with gzip.open(shared_path("langid/udhr2_paragraphs.jsonl.gz"), "rt", encoding="utf-8") as f:
        paragraphs = [r["text"] for r in map(json.loads, f) if r.get("lang_tag") == "cmn_hans"]
    long_doc = "\n".join(paragraphs[:40])
    copy = long_doc.replace("第", "", 2)
    texts = ["你好，请问你是谁", "欢迎来到阿里巴巴！", long_doc, copy]
    kept, removed, _ = SimHashDedup(shingle="char").run([{"text": t} for t in texts])
    assert kept.column("text").to_pylist() == texts[:3] and removed.column("text").to_pylist() == [copy]
    assert SimHashDedup().run([{"text": t} for t in texts])[0].num_rows == 4


def test_char_windows_follow_their_definition():
    texts = ["你好，请问 你是谁", "ab", "", "AB \u3000 c!", "ab c"]
    windows, offsets = char_windows(pa.array(texts), 3)
    # normalized: "你好请问 你是谁" (8), "ab" (one window), "" (none), "ab c" (4), "ab c"
    assert np.diff(offsets).tolist() == [6, 1, 0, 2, 2]
    assert windows[offsets[3]:offsets[4]].tolist() == windows[offsets[4]:offsets[5]].tolist()


def _write_shards(folder: Path, texts: list[str], shards: int, extra: dict | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    per = -(-len(texts) // shards)
    for s in range(shards):
        rows = {"id": [f"d{i}" for i in range(s * per, min(len(texts), (s + 1) * per))], "text": texts[s * per:(s + 1) * per]}
        for k, vals in (extra or {}).items():
            rows[k] = vals[s * per:(s + 1) * per]
        pq.write_table(pa.table(rows), folder / f"part-{s}.parquet")


def _run(tmp_path: Path, name: str, params: dict, workers: int = 1) -> tuple[list[dict], list[dict], dict]:
    out = tmp_path / name
    recipe = validate_recipe({
        "input": {"path": str(tmp_path / "in" / "*.parquet"), "id_column": "id", "batch_size": 64},
        "output": {"path": str(out), "report": False},
        "executor": {"type": "local", "workers": workers},
        "steps": [{"simhash_dedup": params}],
    })
    result = run_recipe(recipe)
    kept = [r for f in sorted(out.glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
    removed = [r for f in sorted(out.glob("rejected/*/*.parquet")) for r in pq.read_table(f).to_pylist()]
    return kept, removed, result.stats


def test_pipeline_same_for_any_worker_count_one_survivor_per_cluster(tmp_path, corpus_texts):
    truth = near_duplicates(corpus_texts[:250], copies=120, seed=1, n=6)
    # copies that differ only in case and punctuation normalize to the same shingles: always found
    sources = [i for i, t in enumerate(corpus_texts[:250]) if len(t.split()) > 30][:20]
    truth.texts += [corpus_texts[i].upper().replace(".", "!") for i in sources]
    truth.pairs += [(i, len(truth.texts) - len(sources) + k, 1.0, "case") for k, i in enumerate(sources)]
    random.Random(5).shuffle(order := list(range(len(truth.texts))))
    texts = [truth.texts[i] for i in order]
    _write_shards(tmp_path / "in", texts, shards=5)
    params = {"cluster_columns": True, "partitions": 3}
    kept1, removed1, stats1 = _run(tmp_path, "w1", params, workers=1)
    kept2, removed2, _ = _run(tmp_path, "w2", params, workers=2)
    assert kept1 == kept2 and removed1 == removed2
    assert {r["reason"] for r in removed1} == {"simhash_dedup:duplicate"}
    rows = sorted(kept1 + removed1, key=lambda r: int(r["id"][1:]))
    kept_ids = {r["id"] for r in kept1}
    by_cluster: dict[int, list[dict]] = {}
    for r in rows:
        by_cluster.setdefault(r["cluster_id"], []).append(r)
    for members in by_cluster.values():
        assert all(r["cluster_size"] == len(members) for r in members)
        assert [r["id"] for r in members if r["id"] in kept_ids] == [members[0]["id"]]
    # every case/punctuation copy is found; of the edited copies, SimHash at distance 4 finds
    # few (see bench/RESULTS.md: recall 0.31 at Jaccard >= 0.9 on corpus_en)
    position = {original: pos for pos, original in enumerate(order)}
    cluster_of = {r["id"]: r["cluster_id"] for r in rows}
    together = [cluster_of[f"d{position[s]}"] == cluster_of[f"d{position[c]}"] for s, c, _, kind in truth.pairs
                if kind == "case"]
    assert len(together) == 20 and all(together)
    metrics = stats1["steps"][0]["metrics"]
    assert metrics["simhash_dedup:clusters"] >= 10 and metrics["simhash_dedup:candidate_pairs"] > 0


def test_keep_column_and_short_and_empty_documents(tmp_path, corpus_texts):
    base = [t for t in corpus_texts if len(t.split()) > 200][:30]
    texts = base + [t + " extra words" for t in base[:10]]  # near copies, later in order
    texts += ["tiny doc", "tiny doc", "Tiny, doc!", "", "   ", "one"]  # shorter than a shingle: hashed whole
    quality = [0.0] * len(base) + [1.0] * 10 + [0.0] * 6
    _write_shards(tmp_path / "in", texts, shards=2, extra={"quality": quality})
    kept, removed, stats = _run(tmp_path, "keep", {"keep_column": "quality"})
    removed_ids = {r["id"] for r in removed}
    assert {f"d{i}" for i in range(10)} <= removed_ids  # originals lose to higher-quality copies
    assert {"d41", "d42"} <= removed_ids and "d40" not in removed_ids  # first of the identical short docs kept
    assert {"d43", "d44", "d45"}.isdisjoint(removed_ids)  # empty documents are never duplicates
    assert stats["steps"][0]["metrics"]["simhash_dedup:documents_without_shingles"] == 2


def test_parameter_checks():
    with pytest.raises(ValueError, match="smaller than blocks"):
        SimHashDedup(blocks=4, distance=4)
    with pytest.raises(ValueError, match="tables"):
        SimHashDedup(blocks=32, distance=16)
    assert len(table_masks(6, 4)) == 15 and len(table_masks(10, 8)) == 45


def brute_force_removed(texts: list[str], ngram: int, distance: int, shingle: str = "word") -> set[int]:
    """All pairs within the distance, connected components, the first document of each kept."""
    windows, offsets = (char_windows if shingle == "char" else word_windows)(pa.array(texts), ngram)
    h = simhashes(windows, offsets)
    has = np.diff(offsets) > 0
    parent = list(range(len(texts)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i in range(len(texts)):
        for j in range(i + 1, len(texts)):
            if has[i] and has[j] and bin(int(h[i]) ^ int(h[j])).count("1") <= distance:
                parent[max(find(i), find(j))] = min(find(i), find(j))
    return {i for i in range(len(texts)) if find(i) != i}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(st.sampled_from(["a", "b", "c", "d", "e", "f", "g", "h", "X,", "ü"]), max_size=14)
                .map(" ".join), min_size=1, max_size=30),
       st.sampled_from([(6, 4, 2, "word"), (10, 8, 3, "word"), (4, 0, 1, "word"), (5, 3, 2, "word"), (6, 4, 3, "char")]))
def test_operator_equals_brute_force_clustering(texts, setting):
    blocks, distance, ngram, shingle = setting
    op = SimHashDedup(blocks=blocks, distance=distance, ngram=ngram, shingle=shingle, partitions=3)
    kept, removed, _ = op.run([{"text": t} for t in texts])
    assert set(removed.column("_doc_key").to_pylist()) == brute_force_removed(texts, ngram, distance, shingle)
    assert kept.num_rows + removed.num_rows == len(texts)
