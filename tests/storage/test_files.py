"""The storage layer: nothing appears under a final name before it is complete, on a local disk
and on an fsspec store (memory://), and cleanup finds every temporary it names."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from storage import files


def test_atomic_file_invisible_until_commit(tmp_path: Path) -> None:
    target = tmp_path / "a" / "x.bin"
    f = files.AtomicFile(target)
    f.handle.write(b"data")
    assert not target.exists()
    assert [p.name for p in target.parent.iterdir()][0].startswith(".x.bin.tmp-")
    f.commit()
    assert target.read_bytes() == b"data"
    assert [p.name for p in target.parent.iterdir()] == ["x.bin"]


def test_failed_write_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "x.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), files.AtomicFile(target) as handle:
        handle.write(b"new, half")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_killed_writer_leaves_a_temporary_that_cleanup_removes(tmp_path: Path) -> None:
    # a process killed mid-write never reaches commit: its temporary stays, the final name does not appear
    code = ("import os, sys; from storage import files; f = files.AtomicFile(sys.argv[1]); "
            "f.handle.write(b'x'); f.handle.flush(); os._exit(9)")
    target = tmp_path / "sub" / "shard.parquet"
    subprocess.run([sys.executable, "-c", code, str(target)], check=False,
                   env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    with files.staging_dir(tmp_path / "model"):  # and an interrupted folder (removed by the context itself)
        pass
    left = [p.name for p in target.parent.iterdir()]
    assert not target.exists() and len(left) == 1 and files.is_temporary(left[0])
    (tmp_path / "user.tmp-notours").write_text("kept")  # not our naming: never touched
    assert files.remove_temporaries(tmp_path) == 1
    assert list(target.parent.iterdir()) == []
    assert (tmp_path / "user.tmp-notours").exists()


def test_staging_dir_replaces_a_folder_whole(tmp_path: Path) -> None:
    final = tmp_path / "tok"
    final.mkdir()
    (final / "old.json").write_text("{}")
    with files.staging_dir(final) as tmp:
        (tmp / "tokenizer.json").write_text("{}")
        assert (final / "old.json").exists()  # the old one stays until the new one is complete
    assert sorted(p.name for p in final.iterdir()) == ["tokenizer.json"]
    with pytest.raises(ValueError), files.staging_dir(final) as tmp:
        (tmp / "half").write_text("")
        raise ValueError
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tok"]
    assert sorted(p.name for p in final.iterdir()) == ["tokenizer.json"]


def test_object_store_paths() -> None:
    base = f"memory://storage-test-{uuid.uuid4().hex}"
    table = pa.table({"text": ["a", "b"]})
    files.write_table(table, files.join(base, "out", "s.parquet"))
    files.write_json(files.join(base, "_work", "done.json"), {"n": 2})
    assert files.read_mark(files.join(base, "_work", "done.json")) == {"n": 2}
    assert files.read_mark(files.join(base, "_work", "missing.json")) is None
    with files.open_input(files.join(base, "out", "s.parquet")) as handle:
        assert pq.read_table(handle).equals(table)
    with files.staging_dir(files.join(base, "artifacts", "tok")) as tmp:
        (tmp / "sub").mkdir()
        (tmp / "sub" / "v.txt").write_text("v")
    assert files.read_bytes(files.join(base, "artifacts", "tok", "sub", "v.txt")) == b"v"
    files.write_bytes(files.join(base, "prefix.bin"), b"abcdef")
    assert files.read_prefix(files.join(base, "prefix.bin"), 3) == b"abc"
    assert files.read_prefix(files.join(base, "prefix.bin"), 10) == b"abcdef"
    assert files.list_names(base) == ["_work", "artifacts", "out", "prefix.bin"]
    files.delete(files.join(base, "out"))
    assert not files.exists(files.join(base, "out", "s.parquet"))
    with pytest.raises(RuntimeError), files.AtomicFile(files.join(base, "x.bin")) as handle:
        handle.write(b"partial")
        raise RuntimeError
    assert not files.exists(files.join(base, "x.bin"))


def test_urls_split_as_fsspec_splits_them() -> None:
    import fsspec

    for text in ["s3://bucket/key", "s3a://bucket/", "memory://x/y", "file:///tmp/a", "local://a", "/tmp/a",
                 "rel/a", "C://windows", "gs://b/a://b", "s3://"]:
        assert files.split_protocol(text) == tuple(fsspec.core.split_protocol(text)), text
