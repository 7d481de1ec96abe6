"""The storage layer against a real S3 server (SeaweedFS): objects appear only when complete."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from storage import files


def test_atomic_writes_on_s3(s3_server) -> None:
    opts = s3_server.storage_options
    base = f"s3://{s3_server.new_prefix()}/run"
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


def test_local_copy_downloads_once_per_content(s3_server, tmp_path, monkeypatch) -> None:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from storage.cache import local_copy

    monkeypatch.setenv("PIPELINE_CACHE", str(tmp_path / "cache"))
    opts = s3_server.storage_options
    model = f"s3://{s3_server.new_prefix()}/models/lm"
    files.write_bytes(files.join(model, "lm.arpa"), b"arpa v1", opts)
    files.write_bytes(files.join(model, "sp", "sp.model"), b"spm", opts)
    ctx = multiprocessing.get_context("spawn")  # s3fs holds an event-loop thread: no fork
    with ProcessPoolExecutor(4, mp_context=ctx) as pool:  # concurrent workers of one node share one copy
        copies = list(pool.map(local_copy, [model] * 4, [opts] * 4))
    assert len(set(copies)) == 1
    assert (copies[0] / "lm.arpa").read_bytes() == b"arpa v1"
    assert (copies[0] / "sp" / "sp.model").read_bytes() == b"spm"
    assert len(list((tmp_path / "cache" / "remote").glob("*.lock"))) == 1
    files.write_bytes(files.join(model, "lm.arpa"), b"arpa v2", opts)  # new content: a new copy
    fresh = local_copy(model, opts)
    assert fresh != copies[0] and (fresh / "lm.arpa").read_bytes() == b"arpa v2"
    single = local_copy(files.join(model, "lm.arpa"), opts)
    assert single.name == "lm.arpa" and single.read_bytes() == b"arpa v2"


def test_a_failed_upload_leaves_nothing_on_the_store_or_the_local_disk(s3_server) -> None:
    base = f"s3://{s3_server.new_prefix()}/run"
    wrong = {**s3_server.storage_options, "secret": "not-the-secret"}
    atomic = files.AtomicFile(files.join(base, "kept.parquet"), wrong)
    atomic.handle.write(b"x" * 100_000)
    with pytest.raises(PermissionError):
        atomic.commit()
    assert not atomic.temp_path.exists()  # the local spool went with it
    assert not files.exists(files.join(base, "kept.parquet"), s3_server.storage_options)
