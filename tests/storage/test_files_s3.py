"""The storage layer against a real S3 server (SeaweedFS): objects appear only when complete."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from storage import files


def test_atomic_writes_on_s3(s3_server) -> None:
    opts = s3_server.storage_options
    base = f"s3://{s3_server.new_bucket()}/run"
    table = pa.table({"text": ["a", "b", "c"]})
    files.write_table(table, files.join(base, "kept.parquet"), storage_options=opts)
    with files.open_input(files.join(base, "kept.parquet"), opts) as handle:
        assert pq.read_table(handle).equals(table)
    atomic = files.AtomicFile(files.join(base, "half.bin"), opts)
    atomic.handle.write(b"x" * 1000)
    assert not files.exists(files.join(base, "half.bin"), opts)  # nothing under the final key yet
    atomic.abort()
    assert not files.exists(files.join(base, "half.bin"), opts)
    with pytest.raises(RuntimeError), files.staging_dir(files.join(base, "tok"), opts) as tmp:
        (tmp / "tokenizer.json").write_text("{}")
        raise RuntimeError
    assert not files.exists(files.join(base, "tok"), opts)
    with files.staging_dir(files.join(base, "tok"), opts) as tmp:
        (tmp / "tokenizer.json").write_text("{}")
    assert files.list_names(files.join(base, "tok"), opts) == ["tokenizer.json"]
    files.write_json(files.join(base, "_work", "done.json"), {"ok": 1}, opts)
    assert files.read_mark(files.join(base, "_work", "done.json"), opts) == {"ok": 1}
    files.delete(files.join(base, "_work"), opts)
    assert files.read_mark(files.join(base, "_work", "done.json"), opts) is None
