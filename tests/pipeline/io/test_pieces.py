"""Reading a JSONL file by byte ranges: consecutive ranges, wherever they cut, read every line
once with its file line number, and quarantine exactly what a whole-file read does. Planning
pieces; the writer's bytes depend on the rows, not on the batches written."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.io.jsonl import jsonl_lines, read_jsonl
from pipeline.io.pieces import Cut, Piece, cut_of, jsonl_pieces, parquet_pieces, plan_pieces
from pipeline.io.shards import Shard
from pipeline.io.writers import ShardWriter
from pipeline.recipe import InputSpec

LINES = [
    b'{"text": "first", "id": "a"}\n',
    b"\n",
    b'{"text": "crlf line"}\r\n',
    b"   \r\n",
    b'{"text": broken json\n',
    b'{"text": "' + b"x" * 3000 + b'"}\n',  # longer than max_line_bytes below
    b'{"text": "\xff invalid utf8"}\n',
    b'{"text": null}\r\n',
    b'{"text": "last line without newline", "k": 1}',
]


def write(path: Path, lines: list[bytes]) -> Shard:
    path.write_bytes(b"".join(lines))
    return Shard(3, str(path), path.name.split(".")[0])


def first_line_at(data: bytes, start: int) -> int:
    """Number of the first line starting at or after `start`."""
    return 1 if start == 0 else data[: start - 1].count(b"\n") + 2


def read_ranges(shard: Shard, spec: InputSpec, cuts: list[int]) -> list[tuple[int, bytes, bool]]:
    data = Path(shard.path).read_bytes()
    bounds = [0, *cuts, len(data)]
    out = []
    for start, end in zip(bounds, bounds[1:], strict=False):
        out += list(jsonl_lines(shard, spec, (start, end), first_line_at(data, start)))
    return out


@pytest.fixture
def spec(tmp_path):
    return InputSpec(path=str(tmp_path), max_line_bytes=1024, batch_size=2)


def test_every_cut_reads_every_line_once_with_its_number(tmp_path, spec):
    shard = write(tmp_path / "edge.jsonl", LINES)
    whole = list(jsonl_lines(shard, spec))
    assert [n for n, _, _ in whole] == list(range(1, len(LINES) + 1))
    size = len(b"".join(LINES))
    for cut in range(1, size):  # one cut at every byte: mid-line, at "\r", right after "\n"
        assert read_ranges(shard, spec, [cut]) == whole, cut
    rng = random.Random(0)
    for _ in range(200):
        cuts = sorted(rng.sample(range(1, size), rng.randint(2, 8)))
        assert read_ranges(shard, spec, cuts) == whole, cuts


def test_pieces_quarantine_and_number_records_as_a_whole_read(tmp_path, spec):
    shard = write(tmp_path / "edge.jsonl", LINES)

    def records(piece: Piece | None) -> tuple[list[dict], list[tuple]]:
        bad: list = []
        tables = list(read_jsonl(shard, spec, bad.append, piece))
        return pa.concat_tables(tables).to_pylist(), [(q.row, q.field, q.reason, q.raw) for q in bad]

    whole = records(None)
    assert [r[:3] for r in whole[1]] == [(5, "<line>", "invalid_json"), (6, "<line>", "line_too_long"),
                                         (7, "<line>", "invalid_utf8"), (8, "text", "null_text")]
    assert [r["_doc_key"] & 0xFFFFFFFFFF for r in whole[0]] == [0, 2, 8]
    for rows_per_task in (1, 2, 3, 5):
        pieces = jsonl_pieces(shard.path, rows_per_task)
        assert pieces is not None and pieces[-1].first_row == (len(LINES) - 1) // rows_per_task * rows_per_task
        parts = [records(p) for p in pieces]
        assert [r for p in parts for r in p[0]] == whole[0], rows_per_task
        assert [q for p in parts for q in p[1]] == whole[1], rows_per_task


def test_jsonl_cuts_fall_after_every_nth_newline(tmp_path):
    data = b"".join(f'{{"text": "{i}"}}\n'.encode() for i in range(10))
    (tmp_path / "a.jsonl").write_bytes(data)
    pieces = jsonl_pieces(str(tmp_path / "a.jsonl"), 4)
    assert [p.byte_range for p in pieces] == [(0, 56), (56, 112), (112, 140)]
    assert [(p.first_row, p.rows, p.index, p.count) for p in pieces] == [(0, 4, 0, 3), (4, 4, 1, 3), (8, 2, 2, 3)]
    assert jsonl_pieces(str(tmp_path / "a.jsonl"), 5) is not None and len(jsonl_pieces(str(tmp_path / "a.jsonl"), 5)) == 2
    assert jsonl_pieces(str(tmp_path / "a.jsonl"), 10) is None  # ends exactly at the cut: one piece


def test_compressed_jsonl_and_whole_file_settings_stay_whole(tmp_path):
    data = b'{"text": "a"}\n' * 50
    (tmp_path / "a.jsonl.gz").write_bytes(gzip.compress(data))
    (tmp_path / "b.jsonl").write_bytes(data)
    spec = InputSpec(path=str(tmp_path))
    assert plan_pieces(Shard(0, str(tmp_path / "a.jsonl.gz"), "a"), spec, 10) is None
    assert plan_pieces(Shard(1, str(tmp_path / "b.jsonl"), "b"), spec, 0) is None
    assert plan_pieces(Shard(1, str(tmp_path / "b.jsonl"), "b"), spec, None) is None
    assert len(plan_pieces(Shard(1, str(tmp_path / "b.jsonl"), "b"), spec, 10)) == 5


def test_one_rule_says_how_each_kind_of_file_is_cut():
    # pipeline/line_pieces.py counts lines by tasks of exactly the files planned whole as LINES_BY_TASKS
    spec = InputSpec(path="s3://b/in")
    cuts = {path: cut_of(Shard(0, path, "x"), spec) for path in
            ["s3://b/in/a.jsonl", "s3://b/in/a.jsonl.gz", "s3://b/in/a.parquet", "/d/a.jsonl", "/d/a.jsonl.zst"]}
    assert cuts == {"s3://b/in/a.jsonl": Cut.LINES_BY_TASKS, "s3://b/in/a.jsonl.gz": Cut.WHOLE,
                    "s3://b/in/a.parquet": Cut.ROW_GROUPS, "/d/a.jsonl": Cut.LINES, "/d/a.jsonl.zst": Cut.WHOLE}
    assert cut_of(Shard(0, "s3://b/in/a.jsonl", "x"), InputSpec(path="s3://b/in", format="parquet")) is Cut.ROW_GROUPS


def test_parquet_pieces_follow_row_groups(tmp_path):
    table = pa.table({"text": [str(i) for i in range(100)]})
    pq.write_table(table, tmp_path / "p.parquet", row_group_size=30)  # groups of 30, 30, 30, 10
    pieces = parquet_pieces(str(tmp_path / "p.parquet"), 50)
    assert [(p.row_groups, p.first_row, p.rows) for p in pieces] == [((0, 2), 0, 60), ((2, 4), 60, 40)]
    assert parquet_pieces(str(tmp_path / "p.parquet"), 100) is None
    assert len(parquet_pieces(str(tmp_path / "p.parquet"), 1)) == 4


def test_writer_bytes_depend_on_rows_not_on_batches(tmp_path):
    table = pa.table({"text": [f"document {i} " * (i % 7) for i in range(250)], "n": list(range(250))})
    outputs = []
    for name, sizes in (("one", [250]), ("small", [3] * 83 + [1]), ("mixed", [100, 0, 17, 90, 43])):
        writer = ShardWriter(tmp_path / name, "s", row_group_rows=40, rows_per_file=110)
        offset = 0
        for n in sizes:
            writer.write(table.slice(offset, n))
            offset += n
        assert writer.commit() == ["s-00000.parquet", "s-00001.parquet", "s-00002.parquet"]
        outputs.append([(tmp_path / name / f).read_bytes() for f in sorted((tmp_path / name).iterdir())])
    assert outputs[0] == outputs[1] == outputs[2]
    assert [pq.ParquetFile(tmp_path / "one" / f"s-0000{i}.parquet").metadata.num_row_groups for i in range(3)] == [3, 4, 2]
    assert json.dumps(pq.read_table(tmp_path / "small").to_pylist()) == json.dumps(table.to_pylist())
