"""Bad input: a clear error naming file, row and field, or a quarantined record with its reason;
never a silent drop. Also checked through the CLI: no bare traceback, exit code != 0."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.io.readers import InputError
from pipeline.recipe import validate_recipe
from pipeline.runner import run_recipe
from tests.conftest import ROOT
from tests.core_helpers import read_output, read_quarantine, recipe_dict, stats, write_recipe


def run(data):
    return run_recipe(validate_recipe(data))


def test_missing_path_is_a_validation_problem(tmp_path):
    with pytest.raises(Exception, match="input.path: not found"):
        validate_recipe(recipe_dict(str(tmp_path / "nope.parquet"), str(tmp_path / "out")))


@pytest.mark.parametrize("kind", ["corrupt", "truncated"])
def test_corrupt_and_truncated_parquet_name_the_file(tmp_path, kind):
    folder = tmp_path / "in"
    folder.mkdir()
    good = folder / "a.parquet"
    pq.write_table(pa.table({"text": ["hello world"] * 1000}), good)
    bad = folder / "b.parquet"
    data = good.read_bytes()
    bad.write_bytes(b"not parquet at all" * 10 if kind == "corrupt" else data[: len(data) // 2])
    with pytest.raises(InputError, match=r"b\.parquet: not a readable Parquet file"):
        run(recipe_dict(f"{folder}/*.parquet", str(tmp_path / "out"), steps=[]))


def test_missing_text_column_and_non_string_text(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    pq.write_table(pa.table({"body": ["x"]}), folder / "a.parquet")
    with pytest.raises(InputError, match=r"a\.parquet: no text column 'text' \(columns: body\)"):
        run(recipe_dict(f"{folder}/a.parquet", str(tmp_path / "o1"), steps=[]))
    pq.write_table(pa.table({"text": [1, 2]}), folder / "b.parquet")
    with pytest.raises(InputError, match=r"b\.parquet: field 'text' has type int64, expected string"):
        run(recipe_dict(f"{folder}/b.parquet", str(tmp_path / "o2"), steps=[]))


def test_null_and_empty_text(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    pq.write_table(pa.table({"text": ["good text", None, "", "more text"]}), folder / "a.parquet")
    out = tmp_path / "out"
    run(recipe_dict(f"{folder}/a.parquet", str(out), steps=[{"text_length_filter": {"min_chars": 1}}]))
    q = read_quarantine(out)
    assert [(r["row"], r["field"], r["reason"]) for r in q] == [(1, "text", "null_text")]
    s = stats(out)
    assert s["input"]["documents"] == 4 and s["output"]["documents"] == 2
    assert s["input"]["quarantined"] == {"null_text": 1}
    assert s["steps"][0]["removed"] == {"text_length_filter:too_short": 1}  # the empty one
    # with quarantine off, the same input stops the run naming file, row and field
    data = recipe_dict(f"{folder}/a.parquet", str(tmp_path / "out2"), steps=[])
    data["output"]["quarantine"] = False
    with pytest.raises(InputError, match=r"a\.parquet: row 1: field 'text' is null"):
        run(data)


def test_jsonl_invalid_utf8_broken_lines_and_wrong_types(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    lines = [
        json.dumps({"text": "fine one"}).encode(),
        b'{"text": "broken',
        b'{"text": "bad \xff\xfe bytes"}',
        json.dumps({"text": 42}).encode(),
        json.dumps({"other": "no text"}).encode(),
        json.dumps(["not", "an", "object"]).encode(),
        json.dumps({"text": None}).encode(),
        b"",
        json.dumps({"text": "fine two"}).encode(),
    ]
    with gzip.open(folder / "a.jsonl.gz", "wb") as fh:
        fh.write(b"\n".join(lines) + b"\n")
    out = tmp_path / "out"
    run(recipe_dict(f"{folder}/a.jsonl.gz", str(out), steps=[]))
    assert [r["text"] for r in read_output(out)] == ["fine one", "fine two"]
    q = read_quarantine(out)
    assert [(r["row"], r["reason"]) for r in q] == [
        (2, "invalid_json"), (3, "invalid_utf8"), (4, "non_string_text (int)"), (5, "missing_field"),
        (6, "not_an_object"), (7, "null_text")]
    assert all(r["file"].endswith("a.jsonl.gz") for r in q)
    s = stats(out)
    assert s["input"]["documents"] == 8 and s["output"]["documents"] == 2 and s["removed"] == 6


def test_truncated_gzip_names_file_and_line(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    payload = gzip.compress(("\n".join(json.dumps({"text": f"t{i}" * 50}) for i in range(2000)) + "\n").encode())
    (folder / "a.jsonl.gz").write_bytes(payload[: len(payload) // 2])
    with pytest.raises(InputError, match=r"a\.jsonl\.gz: compressed stream is corrupt or truncated after line \d+"):
        run(recipe_dict(f"{folder}/a.jsonl.gz", str(tmp_path / "out"), steps=[]))


def test_huge_document_and_empty_shard(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    huge = ("word " * 4_200_000)[:20_000_000]
    pq.write_table(pa.table({"text": [huge, "small doc"]}), folder / "a.parquet")
    pq.write_table(pa.table({"text": pa.array([], pa.string())}), folder / "b.parquet")
    out = tmp_path / "out"
    run(recipe_dict(f"{folder}/*.parquet", str(out), steps=[{"normalize_text": {}}, {"words_filter": {"min_words": 1}},
                                                             {"exact_dedup": {}}]))
    rows = read_output(out)
    assert [len(r["text"]) for r in rows] == [len(huge.strip()), 9]
    assert pq.read_table(out / "b.parquet").num_rows == 0  # an empty shard gives an empty output shard
    assert stats(out)["input"]["documents"] == 2


def test_duplicate_ids_name_file_row_and_field(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    pq.write_table(pa.table({"text": ["a", "b", "c"], "key": ["x", "y", "x"]}), folder / "a.parquet")
    data = recipe_dict(f"{folder}/a.parquet", str(tmp_path / "out"), steps=[])
    data["input"]["id_column"] = "key"
    with pytest.raises(InputError, match=r"a\.parquet: row 2: field 'key': duplicate id 'x'"):
        run(data)


def test_output_folder_not_writable(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    pq.write_table(pa.table({"text": ["a"]}), folder / "a.parquet")
    blocker = tmp_path / "file"
    blocker.write_text("I am a file")
    with pytest.raises(InputError, match="is not writable"):
        run(recipe_dict(f"{folder}/a.parquet", str(blocker / "out"), steps=[]))


def test_foreign_output_folder_is_not_overwritten(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    pq.write_table(pa.table({"text": ["a"]}), folder / "a.parquet")
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    with pytest.raises(InputError, match="not empty and holds no run"):
        run(recipe_dict(f"{folder}/a.parquet", str(out), steps=[]))
    assert (out / "precious.txt").read_text() == "keep me"


def cli(*args, cwd):
    env = {**os.environ, "COLUMNS": "160"}
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], cwd=cwd, capture_output=True, text=True, env=env)


def test_cli_reports_errors_without_traceback(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    pq.write_table(pa.table({"body": ["x"]}), folder / "a.parquet")
    recipe = write_recipe(tmp_path / "r.yaml", recipe_dict(f"{folder}/a.parquet", str(tmp_path / "out"), steps=[]))
    proc = cli("run", str(recipe), "--quiet", cwd=ROOT)
    assert proc.returncode == 1
    assert "no text column 'text'" in proc.stderr and "Traceback" not in proc.stderr
    bad = write_recipe(tmp_path / "bad.yaml", recipe_dict(f"{folder}/a.parquet", str(tmp_path / "out"),
                                                          steps=[{"wordsfilter": {}}, {"words_filter": {"min_words": -2}}]))
    proc = cli("validate", str(bad), cwd=ROOT)
    assert proc.returncode == 2
    assert "steps[0]: unknown operator 'wordsfilter'; did you mean words_filter" in proc.stderr
    assert "steps[1].words_filter.min_words: must be >= 0" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_run_validate_ops(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    pq.write_table(pa.table({"text": ["one two three four", "one two three four", "x"]}), folder / "a.parquet")
    recipe = write_recipe(tmp_path / "r.yaml", recipe_dict(f"{folder}/a.parquet", str(tmp_path / "out"),
                                                           steps=[{"words_filter": {"min_words": 2}}, {"exact_dedup": {}}]))
    proc = cli("validate", str(recipe), cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    proc = cli("run", str(recipe), "--quiet", "--set", "executor.workers=2", cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "3 in = 1 kept + 2 removed" in proc.stdout
    proc = cli("ops", cwd=ROOT)
    assert proc.returncode == 0 and "words_filter" in proc.stdout and "exact_dedup" in proc.stdout
    proc = cli("ops", "words_filter", "--json", cwd=ROOT)
    info = json.loads(proc.stdout)
    assert info["name"] == "words_filter" and {p["name"] for p in info["params"]} == {"min_words", "max_words"}
    for sub in ("run", "validate", "ops"):
        assert cli(sub, "--help", cwd=ROOT).returncode == 0
