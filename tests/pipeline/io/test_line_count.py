"""Pieces of a JSONL file planned from line starts counted per byte range (for a file on an object
store, which the driver does not read): at any cut, the counts are the lines a range reads, and
the pieces read every record once, numbered and quarantined as in a whole-file read."""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow as pa
import pytest

from pipeline.io import line_count
from pipeline.io.jsonl import jsonl_lines, read_jsonl
from pipeline.io.line_count import LineCount, byte_ranges, count_line_starts, pieces_from_counts
from pipeline.io.shards import Shard
from pipeline.recipe import InputSpec
from tests.pipeline.io.test_pieces import LINES, write


@pytest.fixture
def spec(tmp_path):
    return InputSpec(path=str(tmp_path), max_line_bytes=1024, batch_size=2)


def counted(path: str, options, size: int, cuts: list[int]) -> tuple[list[LineCount], list[int]]:
    bounds = [0, *cuts, size]
    tasks = [LineCount(path, options, a, b, size) for a, b in zip(bounds, bounds[1:], strict=False)]
    return tasks, [count_line_starts(t)["starts"] for t in tasks]


def test_counts_are_the_lines_each_range_reads(tmp_path, spec) -> None:
    for lines in (LINES, [*LINES[:-1], b"end\n"], [b"\n", b"\n"], [b"x"]):
        shard = write(tmp_path / "edge.jsonl", lines)
        size = Path(shard.path).stat().st_size
        rng = random.Random(1)
        for cuts in [[c] for c in range(1, size)] + [sorted(rng.sample(range(1, size), min(4, size - 1)))
                                                     for _ in range(50)]:
            tasks, starts = counted(shard.path, None, size, cuts)
            reads = [len(list(jsonl_lines(shard, spec, (t.start, t.end)))) for t in tasks]
            assert starts == reads, (lines, cuts)
            assert sum(starts) == len(list(jsonl_lines(shard, spec)))


def test_pieces_read_as_a_whole_file_read(tmp_path, spec) -> None:
    shard = write(tmp_path / "edge.jsonl", LINES)
    size = Path(shard.path).stat().st_size

    def records(piece) -> tuple[list[dict], list[tuple]]:
        bad: list = []
        table = pa.concat_tables(list(read_jsonl(shard, spec, bad.append, piece)))
        return table.to_pylist(), [(q.row, q.field, q.reason) for q in bad]

    whole = records(None)
    rng = random.Random(2)
    for _ in range(40):
        cuts = sorted(rng.sample(range(1, size), rng.randint(1, 6)))
        tasks, starts = counted(shard.path, None, size, cuts)
        pieces = pieces_from_counts(tasks, starts, 3)
        assert pieces is not None and all(p.rows for p in pieces)  # no piece without a line
        assert [p.first_row for p in pieces] == [sum(p.rows for p in pieces[:i]) for i in range(len(pieces))]
        parts = [records(p) for p in pieces]
        assert [r for p in parts for r in p[0]] == whole[0], cuts
        assert [q for p in parts for q in p[1]] == whole[1], cuts


def test_ranges_follow_the_sampled_line_length(monkeypatch) -> None:
    monkeypatch.setattr(line_count, "MIN_RANGE_BYTES", 1)
    sample = b"".join(b"x" * 99 + b"\n" for _ in range(100))  # 100 bytes a line
    assert byte_ranges(10_000, sample, 10) == [(i * 1000, (i + 1) * 1000) for i in range(10)]
    assert byte_ranges(10_500, sample, 10)[-1][1] == 10_500
    assert byte_ranges(0, b"", 10) == [(0, 0)]
    monkeypatch.undo()
    assert len(byte_ranges(10_000, sample, 10)) == 1  # a range is never smaller than MIN_RANGE_BYTES


def test_counting_a_file_on_s3(s3_server, tmp_path, spec) -> None:
    import fsspec

    data = b"".join(LINES) * 50
    url = f"s3://{s3_server.new_prefix()}/in/big.jsonl"
    with fsspec.open(url, "wb", **s3_server.storage_options) as handle:
        handle.write(data)
    local = tmp_path / "big.jsonl"
    local.write_bytes(data)
    cuts = [len(data) // 3, 2 * len(data) // 3]
    _, remote = counted(url, s3_server.storage_options, len(data), cuts)
    _, here = counted(str(local), None, len(data), cuts)
    assert remote == here and sum(remote) == len(list(jsonl_lines(Shard(0, str(local), "big"), spec)))
