"""The local executor: accounting, determinism across worker counts, order, formats, resume."""

from __future__ import annotations

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from pipeline.recipe import load_recipe, validate_recipe
from pipeline.runner import run_recipe
from tests.core_helpers import read_output, read_rejected, recipe_dict, stats, write_parquet_shards, write_recipe


def run(tmp_path, data, name="r.yaml", **kw):
    return run_recipe(load_recipe(write_recipe(tmp_path / name, data)), **kw)


@pytest.fixture
def shards(tmp_path):
    return write_parquet_shards(tmp_path / "in", 4, 120)


def test_accounting_and_outputs(tmp_path, shards):
    out = tmp_path / "out"
    result = run(tmp_path, recipe_dict(f"{tmp_path}/in/*.parquet", str(out)))
    s = stats(out)
    kept, rejected = read_output(out), read_rejected(out)
    assert s["input"]["documents"] == 480
    assert s["output"]["documents"] == len(kept) == result.kept
    assert s["input"]["documents"] == len(kept) + len(rejected) == len(kept) + s["removed"]
    steps = {t["operator"]: t for t in s["steps"]}
    assert steps["exact_dedup"]["documents_removed"] > 0 and steps["words_filter"]["documents_removed"] > 0
    assert {r["reason"] for r in rejected} == {"words_filter:too_short", "exact_dedup:duplicate", "text_length_filter:too_long"}
    # every rejected row names its operator, and every id appears exactly once overall
    assert all(r["operator"] in steps for r in rejected)
    ids = [r["id"] for r in kept] + [r["id"] for r in rejected]
    assert len(ids) == len(set(ids)) == 480
    # outputs are named after inputs; internal columns do not leak; statistics are columns
    assert sorted(p.name for p in out.glob("*.parquet")) == [p.name for p in shards]
    assert "_doc_key" not in pq.read_schema(out / "part-000.parquet").names
    assert {"word_count", "char_count"} <= set(pq.read_schema(out / "part-000.parquet").names)


def test_exact_dedup_keeps_first_occurrence_in_corpus_order(tmp_path, shards):
    out = tmp_path / "out"
    run(tmp_path, recipe_dict(f"{tmp_path}/in/*.parquet", str(out), steps=[{"exact_dedup": {}}]))
    kept = read_output(out)
    texts = [r["text"] for r in kept]
    assert len(texts) == len(set(texts))
    original = []
    for p in shards:
        original += pq.read_table(p).to_pylist()
    first_seen = {}
    for row in original:
        first_seen.setdefault(row["text"], row["id"])
    assert sorted(r["id"] for r in kept) == sorted(first_seen.values())


def test_same_output_with_one_or_two_workers_and_order_kept(tmp_path, shards):
    a, b = tmp_path / "a", tmp_path / "b"
    run(tmp_path, recipe_dict(f"{tmp_path}/in/*.parquet", str(a), workers=1), "a.yaml")
    run(tmp_path, recipe_dict(f"{tmp_path}/in/*.parquet", str(b), workers=2), "b.yaml")
    for p in sorted(a.glob("*.parquet")):
        ta, tb = pq.read_table(p), pq.read_table(b / p.name)
        assert ta.equals(tb)
        ns = ta.column("n").to_pylist()
        assert ns == sorted(ns)  # document order within a shard is kept
    sa, sb = stats(a), stats(b)
    assert [t["removed"] for t in sa["steps"]] == [t["removed"] for t in sb["steps"]]


def test_rerun_skips_finished_work_and_gives_identical_output(tmp_path, shards):
    out = tmp_path / "out"
    data = recipe_dict(f"{tmp_path}/in/*.parquet", str(out))
    run(tmp_path, data)
    before = {p.name: p.read_bytes() for p in out.glob("*.parquet")}
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.glob("*.parquet")}
    run(tmp_path, data)
    assert {p.name: p.read_bytes() for p in out.glob("*.parquet")} == before
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.parquet")} == mtimes  # skipped, not redone
    # a changed recipe refuses to mix with the earlier run, unless --fresh
    changed = recipe_dict(f"{tmp_path}/in/*.parquet", str(out), steps=[{"words_filter": {"min_words": 3}}])
    with pytest.raises(Exception, match="different recipe"):
        run(tmp_path, changed, "c.yaml")
    run(tmp_path, changed, "c.yaml", fresh=True)
    assert stats(out)["steps"][0]["params"]["min_words"] == 3


def test_rows_per_shard_and_custom_columns(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    pq.write_table(pa.table({"content": [f"doc number {i} " * 3 for i in range(25)], "doc": [f"x{i}" for i in range(25)]}),
                   folder / "a.parquet")
    out = tmp_path / "out"
    data = recipe_dict(f"{folder}/a.parquet", str(out), steps=[{"normalize_text": {}}])
    data["input"].update({"text_column": "content", "id_column": "doc"})
    data["output"]["rows_per_shard"] = 10
    run(tmp_path, data)
    files = sorted(p.name for p in out.glob("*.parquet"))
    assert files == ["a-00000.parquet", "a-00001.parquet", "a-00002.parquet"]
    rows = read_output(out)
    assert [r["doc"] for r in rows] == [f"x{i}" for i in range(25)]
    assert set(rows[0]) == {"content", "doc"}


def test_jsonl_gz_and_zst_inputs_with_generated_ids(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    lines = [json.dumps({"text": f"line {i} of the file", "source": "s"}) for i in range(30)]
    with gzip.open(folder / "a.jsonl.gz", "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    (folder / "b.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(("\n".join(lines) + "\n").encode()))
    (folder / "c.jsonl").write_text("\n".join(lines[:5]) + "\n")
    out = tmp_path / "out"
    run(tmp_path, recipe_dict(f"{folder}/*", str(out), steps=[{"normalize_text": {}}]))
    rows = read_output(out)
    assert len(rows) == 65
    assert rows[0]["id"] == "a/0" and rows[30]["id"] == "b/0" and rows[60]["id"] == "c/0"
    assert json.loads(rows[0]["metadata"]) == {"source": "s"}


def test_operator_error_names_step_shard_and_rows(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    pq.write_table(pa.table({"text": ["fine", "fine", "boom here"]}), folder / "a.parquet")
    data = recipe_dict(f"{folder}/a.parquet", str(tmp_path / "out"), steps=[{"tests.custom_ops:ExplodingMapper": {}}])
    with pytest.raises(Exception) as info:
        run_recipe(validate_recipe(data))
    msg = str(info.value)
    assert "step 0 (exploding_mapper)" in msg and "a.parquet" in msg and "rows 0..2" in msg


def test_python_api_runs_operators_on_tables_and_dicts():
    from operators.dedup.exact import ExactDedup
    from operators.filters.length import WordsFilter
    from operators.text.normalize import NormalizeText

    docs = [{"text": "a  b\tc"}, {"text": "a b c"}, {"text": "one"}]
    normalized = NormalizeText()(docs)
    assert normalized.column("text").to_pylist() == ["a b c", "a b c", "one"]
    kept, removed, reasons = ExactDedup().run(normalized)
    assert kept.column("text").to_pylist() == ["a b c", "one"]
    assert reasons.to_pylist() == ["exact_dedup:duplicate"]
    kept = WordsFilter(min_words=2)(kept)
    assert kept.column("word_count").to_pylist() == [3]


def test_python_api_run_over_shards(tmp_path, shards):
    from operators.filters.length import WordsFilter
    from pipeline import run as run_pipeline
    from tests.custom_ops import UppercaseText

    result = run_pipeline([WordsFilter(min_words=10), "exact_dedup", UppercaseText()], f"{tmp_path}/in/*.parquet",
                          str(tmp_path / "api"), workers=2)
    rows = read_output(tmp_path / "api")
    assert result.kept == len(rows) > 0
    assert all(r["text"] == r["text"].upper() and r["word_count"] >= 10 for r in rows)
    assert result.stats["steps"][2]["operator"] == "uppercase_text"


def test_remote_filesystem_input_through_fsspec(tmp_path):
    """s3:// goes through the same fsspec path; the in-process memory:// filesystem stands in."""
    import fsspec

    fs = fsspec.filesystem("memory")
    with fs.open("/bucket/data/a.parquet", "wb") as fh:
        pq.write_table(pa.table({"text": ["alpha beta", "gamma"]}), fh)
    with fs.open("/bucket/data/b.jsonl", "wb") as fh:
        fh.write(b'{"text": "delta"}\n')
    out = tmp_path / "out"
    data = recipe_dict("memory://bucket/data/*", str(out), steps=[{"normalize_text": {}}])
    run_recipe(validate_recipe(data))
    assert [r["text"] for r in read_output(out)] == ["alpha beta", "gamma", "delta"]
    assert stats(out)["input"]["files"] == 2


def test_setup_failure_names_the_step(tmp_path, shards):
    data = recipe_dict(f"{tmp_path}/in/*.parquet", str(tmp_path / "out"),
                       steps=[{"normalize_text": {}}, {"language_filter": {"model_path": str(tmp_path / "missing.bin")}}])
    with pytest.raises(Exception, match=r"step 1 \(language_filter\) could not be set up: FileNotFoundError"):
        run_recipe(validate_recipe(data))


def test_global_first_step_reads_the_input_directly(tmp_path, shards):
    """A recipe starting with a global step runs its stages on the input shards (no copy), and
    quarantines bad records once."""
    out = tmp_path / "out"
    jsonl = tmp_path / "in" / "z.jsonl"
    jsonl.write_text('{"text": "same words here"}\n{"text": null}\nnot json\n{"text": "same words here"}\n')
    run(tmp_path, recipe_dict(f"{tmp_path}/in/*", str(out), steps=[{"exact_dedup": {}}, {"words_filter": {"min_words": 1}}]))
    s = stats(out)
    assert s["input"]["documents"] == 484 and s["input"]["quarantined"] == {"null_text": 1, "invalid_json": 1}
    assert not (out / "_work" / "seg1").exists()  # one segment: no materialized copy of the input
    z = pq.read_table(out / "z.parquet").to_pylist()
    assert [r["text"] for r in z] == ["same words here"]
    kept, rejected = read_output(out), read_rejected(out)
    assert len(kept) + len(rejected) + 2 == 484


def test_global_operator_python_api_on_a_plain_table():
    from operators.dedup.exact import ExactDedup

    kept = ExactDedup()(pa.table({"text": ["a", "b", "a"]}))
    assert kept.column("text").to_pylist() == ["a", "b"]
