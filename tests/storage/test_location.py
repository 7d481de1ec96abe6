"""Location: one type for a local folder and an object-store URL, carrying its settings."""

from __future__ import annotations

import os
import pickle

import pyarrow as pa
import pytest

from storage.location import Location


def test_local_location_joins_like_a_path(tmp_path) -> None:
    out = Location(tmp_path / "out")
    shard = out / "_work" / "seg0" / "part-0.parquet"
    assert shard.path == tmp_path / "out" / "_work" / "seg0" / "part-0.parquet"
    assert shard.name == "part-0.parquet" and shard.parent.parent == out / "_work"
    assert os.fspath(shard) == str(shard.path)  # native libraries may open local ones by name
    assert shard.relative_to(out) == "_work/seg0/part-0.parquet"
    shard.write_table(pa.table({"text": ["a"]}))
    assert shard.read_table().column("text").to_pylist() == ["a"]
    assert (out / "_work" / "seg0").list_names() == ["part-0.parquet"]
    (out / "_work").delete()
    assert not shard.exists() and (out / "_work").read_mark() is None


def test_remote_location_keeps_its_settings_and_hides_them(s3_server) -> None:
    secret = s3_server.storage_options["secret"]
    out = Location(f"s3://{s3_server.new_prefix()}/run/", s3_server.storage_options)
    mark = out / "_work" / "done" / "a.json"
    assert str(mark).endswith("/run/_work/done/a.json") and mark.is_remote
    assert secret not in repr(mark) and secret not in str(mark)
    with pytest.raises(TypeError, match="object store"):
        os.fspath(mark)  # a native library would otherwise create a local folder named "s3:"
    mark.write_json({"rows": 3})  # the settings came along from `out`
    again = pickle.loads(pickle.dumps(mark))  # as a task argument travels to a worker
    assert again.read_mark() == {"rows": 3} and again.options == s3_server.storage_options
    assert (out / "_work").list_names() == ["done"]
    with (out / "model.bin").staging_file() as tmp:
        tmp.write_bytes(b"weights")
    assert (out / "model.bin").read_bytes() == b"weights"
    (out / "_work").delete()
    assert mark.read_mark() is None and (out / "model.bin").exists()
    bucket = Location(f"s3://{out.url.split('/')[2]}", out.options)
    assert bucket.parent == bucket and out.parent.parent.parent == bucket  # a bucket has no parent in the store
