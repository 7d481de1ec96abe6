"""A piece's files (pipeline/pieces.py, `PartWriter`): Arrow IPC, uncompressed on a local disk,
where LZ4 cost the pieces as much CPU as the Parquet encoding they hand over to the join, and LZ4
on an object store, where every byte is a transfer. Read back, the rows are the same either way."""

from __future__ import annotations

import pyarrow as pa

from pipeline.pieces import PART_SUFFIX, PartWriter, _ipc_source
from storage.location import Location

TEXT = "the same sentence, again and again, compresses well. " * 40


def write_part(folder: Location) -> tuple[int, pa.Table]:
    table = pa.table({"text": [TEXT] * 500, "n": list(range(500))})
    writer = PartWriter(folder, "shard")
    writer.write(table)
    writer.commit()
    part = folder / f"shard{PART_SUFFIX}"
    with part.reader() as where, _ipc_source(where) as source:
        back = source.read_all()
    return len(part.read_bytes()), back


def test_a_local_part_is_uncompressed_and_reads_back(tmp_path):
    size, back = write_part(Location(str(tmp_path)))
    assert size > 500 * len(TEXT)
    assert back.column("text").to_pylist() == [TEXT] * 500 and back.column("n").to_pylist() == list(range(500))


def test_a_part_on_a_store_is_compressed_and_reads_back(s3_server):
    size, back = write_part(Location(f"s3://{s3_server.new_prefix()}/w", s3_server.storage_options))
    assert size < 500 * len(TEXT) / 10
    assert back.column("text").to_pylist() == [TEXT] * 500
