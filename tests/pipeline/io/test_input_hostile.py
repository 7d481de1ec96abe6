"""Hostile input (issue 12): nothing lost, nothing leaked. Each case is a clear error naming the
file, or a quarantined record with its reason; the accounting input = kept + removed holds."""

from __future__ import annotations

import gzip
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from pipeline.io.readers import InputError
from pipeline.io.writers import ShardWriter
from pipeline.recipe import RecipeError, validate_recipe
from pipeline.runner import run_recipe
from tests.core_helpers import read_output, read_quarantine, read_rejected, recipe_dict, stats


def run(data):
    return run_recipe(validate_recipe(data))


def assert_balanced(out, n_in: int) -> dict:
    s = stats(out)
    assert s["input"]["documents"] == n_in
    assert s["output"]["documents"] + s["removed"] == n_in
    assert s["output"]["documents"] == len(read_output(out))
    return s


def write_jsonl(path, lines: list[str | bytes]) -> None:
    path.write_bytes(b"".join((x.encode() if isinstance(x, str) else x) + b"\n" for x in lines))


# ---- item 2: two inputs, one shard name -------------------------------------------------------


def test_same_stem_in_one_folder_gives_distinct_shards(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    pq.write_table(pa.table({"text": ["p one", "p two"]}), folder / "part-0.parquet")
    write_jsonl(folder / "part-0.jsonl", [json.dumps({"text": "j one"}), json.dumps({"text": "j two"})])
    out = tmp_path / "out"
    run(recipe_dict(str(folder), str(out), steps=[]))
    assert sorted(p.name for p in out.glob("*.parquet")) == ["part-0_jsonl.parquet", "part-0_parquet.parquet"]
    assert sorted(r["text"] for r in read_output(out)) == ["j one", "j two", "p one", "p two"]
    assert_balanced(out, 4)


def test_shard_names_that_still_collide_are_refused_naming_both(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    pq.write_table(pa.table({"text": ["a"]}), folder / "x.parquet")
    write_jsonl(folder / "x.jsonl", [json.dumps({"text": "b"})])
    pq.write_table(pa.table({"text": ["c"]}), folder / "x_jsonl.parquet")  # the name x.jsonl would get
    with pytest.raises(RecipeError, match=r"x\.jsonl and .*x_jsonl\.parquet|x_jsonl\.parquet and .*x\.jsonl"):
        validate_recipe(recipe_dict(str(folder), str(tmp_path / "out"), steps=[]))


# ---- item 3: truncated or corrupt compressed streams --------------------------------------------


def _jsonl_payload(n: int) -> bytes:
    return ("\n".join(json.dumps({"text": f"document number {i} " * 5}) for i in range(n)) + "\n").encode()


def test_truncated_zstd_names_the_file(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    payload = zstandard.ZstdCompressor().compress(_jsonl_payload(3000))
    (folder / "a.jsonl.zst").write_bytes(payload[: len(payload) // 2])
    with pytest.raises(InputError, match=r"a\.jsonl\.zst: .*(truncated|corrupt)"):
        run(recipe_dict(str(folder / "a.jsonl.zst"), str(tmp_path / "out"), steps=[]))
    assert not list((tmp_path / "out").glob("*.parquet"))  # no partial shard


def test_multi_frame_zstd_reads_every_frame(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    c = zstandard.ZstdCompressor()
    (folder / "a.jsonl.zst").write_bytes(c.compress(_jsonl_payload(10)) + c.compress(_jsonl_payload(7)))
    out = tmp_path / "out"
    run(recipe_dict(str(folder / "a.jsonl.zst"), str(out), steps=[]))
    assert_balanced(out, 17)


@pytest.mark.parametrize("suffix", [".jsonl.zst", ".jsonl.gz"])
def test_corrupt_compressed_stream_names_the_file(tmp_path, suffix):
    folder = tmp_path / "in"
    folder.mkdir()
    raw = _jsonl_payload(3000)
    payload = bytearray(zstandard.ZstdCompressor().compress(raw) if suffix.endswith("zst") else gzip.compress(raw))
    for i in range(len(payload) // 2, len(payload) // 2 + 64):  # scribble over the middle
        payload[i] ^= 0x5A
    (folder / f"a{suffix}").write_bytes(bytes(payload))
    with pytest.raises(InputError, match=rf"a{suffix.replace('.', '[.]')}: .*(corrupt|truncated)"):
        run(recipe_dict(str(folder / f"a{suffix}"), str(tmp_path / "out"), steps=[]))


# ---- item 4: invalid UTF-8 inside Parquet string columns ------------------------------------------


def _unchecked_strings(values: list[bytes]) -> pa.Array:
    return pa.array(values, pa.binary()).view(pa.string())  # Arrow does not check UTF-8 in a view


def test_invalid_utf8_in_parquet_columns_is_quarantined(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    table = pa.table({
        "text": _unchecked_strings([b"good one", b"bad \xff text", b"fine", b"fine too", b"good two"]),
        "id": _unchecked_strings([b"a", b"b", b"c\xfe", b"d", b"e"]),
        "src": _unchecked_strings([b"s", b"s", b"s", b"\xc3(", b"s"]),
    })
    pq.write_table(table, folder / "a.parquet")
    out = tmp_path / "out"
    run(recipe_dict(str(folder / "a.parquet"), str(out), steps=[{"normalize_text": {}}]))
    assert [r["text"] for r in read_output(out)] == ["good one", "good two"]
    for f in out.glob("*.parquet"):
        pq.read_table(f).validate(full=True)
    q = read_quarantine(out)
    assert [(r["row"], r["field"], r["reason"]) for r in q] == [
        (1, "text", "invalid_utf8"), (2, "id", "invalid_utf8"), (3, "src", "invalid_utf8")]
    s = assert_balanced(out, 5)
    assert s["input"]["quarantined"] == {"invalid_utf8": 3}
    data = recipe_dict(str(folder / "a.parquet"), str(tmp_path / "out2"), steps=[])
    data["output"]["quarantine"] = False  # without quarantine: stop, naming file, row and field
    with pytest.raises(InputError, match=r"a\.parquet: row 1: field 'text': invalid_utf8"):
        run(data)


# ---- item 8: column names never clash and nothing is dropped --------------------------------------


def test_input_columns_named_operator_and_reason_survive_in_rejected(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    pq.write_table(pa.table({"text": ["one two three four", "x"], "reason": ["r0", "r1"], "operator": ["o0", "o1"]}),
                   folder / "a.parquet")
    out = tmp_path / "out"
    run(recipe_dict(str(folder / "a.parquet"), str(out), steps=[{"words_filter": {"min_words": 2}}]))
    rejected = read_rejected(out)  # pyarrow reads it: no duplicate column names
    assert len(rejected) == 1
    row = rejected[0]
    assert row["reason"] == "words_filter:too_short" and row["operator"] == "words_filter"
    assert row["input_reason"] == "r1" and row["input_operator"] == "o1"
    assert read_output(out)[0]["reason"] == "r0"  # kept documents keep the user's names
    assert_balanced(out, 2)


def test_id_column_equal_to_text_column_is_refused(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    pq.write_table(pa.table({"text": ["a", "b"]}), folder / "a.parquet")
    data = recipe_dict(str(folder / "a.parquet"), str(tmp_path / "out"), steps=[])
    data["input"]["id_column"] = "text"
    with pytest.raises(RecipeError, match="input.id_column: .*text_column"):
        validate_recipe(data)


@pytest.mark.parametrize("column", ["_doc_key", "text"])
def test_reserved_column_names_are_refused_not_dropped(tmp_path, column):
    folder = tmp_path / "in"
    folder.mkdir()
    pq.write_table(pa.table({"body": ["a", "b"], column: ["k1", "k2"]}), folder / "a.parquet")
    data = recipe_dict(str(folder / "a.parquet"), str(tmp_path / "out"), steps=[])
    data["input"]["text_column"] = "body"
    with pytest.raises(InputError, match=rf"a\.parquet: column '{column}' .*reserved"):
        run(data)


def test_writer_never_drops_a_column_added_after_the_first_batch(tmp_path):
    w = ShardWriter(tmp_path, "s")
    w.write(pa.table({"a": [1, 2]}))
    with pytest.raises(ValueError, match=r"column\(s\) b .*not in the shard's first batch"):
        w.write(pa.table({"a": [3], "b": ["new"]}))
    w.abort()
    w = ShardWriter(tmp_path, "t")  # a column missing from a later batch is filled with nulls, not an error
    w.write(pa.table({"a": [1], "b": ["x"]}))
    w.write(pa.table({"a": [2]}))
    w.commit()
    assert pq.read_table(tmp_path / "t.parquet").to_pylist() == [{"a": 1, "b": "x"}, {"a": 2, "b": None}]


# ---- item 13: lone surrogates in JSONL -----------------------------------------------------------------


def test_lone_surrogates_are_quarantined(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    write_jsonl(folder / "a.jsonl", [
        r'{"text": "fine", "id": "1"}',
        r'{"text": "bad \ud800 text", "id": "2"}',
        r'{"text": "bad id", "id": "\udfff"}',
        r'{"text": "bad meta", "id": "4", "m": {"k": ["\ud800"]}}',
        r'{"text": "a real pair \ud83d\ude00", "id": "5"}',
    ])
    out = tmp_path / "out"
    run(recipe_dict(str(folder / "a.jsonl"), str(out), steps=[]))
    assert [r["text"] for r in read_output(out)] == ["fine", "a real pair \U0001F600"]
    assert [(r["row"], r["field"], r["reason"]) for r in read_quarantine(out)] == [
        (2, "text", "lone_surrogate"), (3, "id", "lone_surrogate"), (4, "m", "lone_surrogate")]
    assert_balanced(out, 5)


# ---- item 14: deep nesting ------------------------------------------------------------------------------


def test_deeply_nested_jsonl_is_quarantined(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    deep = '{"text": "deep", "m": ' + "[" * 100_000 + "]" * 100_000 + "}"
    write_jsonl(folder / "a.jsonl", [json.dumps({"text": "ok"}), deep, json.dumps({"text": "ok too"})])
    out = tmp_path / "out"
    run(recipe_dict(str(folder / "a.jsonl"), str(out), steps=[]))
    assert [(r["row"], r["reason"]) for r in read_quarantine(out)] == [(2, "nested_too_deep")]
    assert_balanced(out, 3)


# ---- item 18: special files and endless lines ---------------------------------------------------------


@pytest.mark.timeout(60)
def test_fifo_and_device_are_refused(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    os.mkfifo(folder / "pipe.jsonl")
    with pytest.raises(RecipeError, match=r"pipe\.jsonl: not a regular file"):
        validate_recipe(recipe_dict(str(folder), str(tmp_path / "out"), steps=[]))
    other = tmp_path / "dev"
    other.mkdir()
    os.symlink("/dev/zero", other / "zero.jsonl")
    with pytest.raises(InputError, match=r"zero\.jsonl: not a regular file"):
        run_recipe(validate_recipe(recipe_dict(str(other / "zero.jsonl"), str(tmp_path / "o2"), steps=[]),
                                   check_input=False))
    (other / "folder.jsonl").mkdir()  # a glob can match a folder too
    with pytest.raises(RecipeError, match=r"folder\.jsonl: not a regular file \(a directory\)"):
        validate_recipe(recipe_dict(str(other / "folder.*"), str(tmp_path / "o3"), steps=[]))


def test_line_longer_than_the_limit_is_quarantined(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    write_jsonl(folder / "a.jsonl", [json.dumps({"text": "short"}), json.dumps({"text": "x" * 5000}),
                                     json.dumps({"text": "after"})])
    out = tmp_path / "out"
    data = recipe_dict(str(folder / "a.jsonl"), str(out), steps=[])
    data["input"]["max_line_bytes"] = 1024
    run(data)
    assert [r["text"] for r in read_output(out)] == ["short", "after"]
    q = read_quarantine(out)
    assert [(r["row"], r["reason"]) for r in q] == [(2, "line_too_long")]
    assert len(q[0]["raw"]) <= 2000
    assert_balanced(out, 3)
    assert read_output(out)[1]["id"] == "a/2"  # line numbers stay right after the long line


# ---- decided and documented ------------------------------------------------------------------------------


def test_json_ids_strings_and_integers_only(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    write_jsonl(folder / "a.jsonl", [
        '{"text": "s", "id": "abc"}', '{"text": "i", "id": 7}', '{"text": "b", "id": true}',
        '{"text": "o", "id": {"k": 1}}', '{"text": "f", "id": 1.5}', '{"text": "l", "id": [1]}',
    ])
    out = tmp_path / "out"
    run(recipe_dict(str(folder / "a.jsonl"), str(out), steps=[]))
    assert [r["id"] for r in read_output(out)] == ["abc", "7"]
    assert [(r["row"], r["field"], r["reason"]) for r in read_quarantine(out)] == [
        (3, "id", "non_string_id (bool)"), (4, "id", "non_string_id (dict)"), (5, "id", "non_string_id (float)"),
        (6, "id", "non_string_id (list)")]
    assert_balanced(out, 6)


def test_parquet_id_column_of_nested_type_is_refused(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    pq.write_table(pa.table({"text": ["a"], "id": [[1, 2]]}), folder / "a.parquet")
    with pytest.raises(InputError, match=r"a\.parquet: field 'id' has type list<.*>, expected string or integer"):
        run(recipe_dict(str(folder / "a.parquet"), str(tmp_path / "out"), steps=[]))


def test_duplicate_ids_across_shards_are_accepted(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    pq.write_table(pa.table({"text": ["a"], "id": ["same"]}), folder / "a.parquet")
    pq.write_table(pa.table({"text": ["b"], "id": ["same"]}), folder / "b.parquet")
    out = tmp_path / "out"
    run(recipe_dict(str(folder), str(out), steps=[]))
    assert [r["id"] for r in read_output(out)] == ["same", "same"]


def test_jsonl_fields_of_later_lines_are_kept_in_metadata(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    write_jsonl(folder / "a.jsonl", ['{"text": "a"}', '{"text": "b", "late": 1}', '{"text": "c", "later": {"k": [2]}}'])
    out = tmp_path / "out"
    data = recipe_dict(str(folder / "a.jsonl"), str(out), steps=[])
    data["input"]["batch_size"] = 1  # each line its own batch: nothing depends on the first batch's columns
    run(data)
    assert [r["metadata"] for r in read_output(out)] == [None, '{"late": 1}', '{"later": {"k": [2]}}']
    assert_balanced(out, 3)
