"""How many requests the storage layer sends to a real S3 server (SeaweedFS) for its verbs: on a
store every request is a round trip (~5 ms here, more in a cloud region), so a run's time on a
store is mostly their count. Requests are counted with botocore's own event hooks on the s3fs
client, not by replacing anything."""

from __future__ import annotations

from collections import Counter

import pyarrow as pa
import pytest

from storage import files, many
from storage.location import SMALL_OBJECT, Location, read_marks


def count_requests(fs) -> Counter:
    """Count the S3 operations `fs` sends from now on (e.g. {"GetObject": 2})."""
    import fsspec.asyn

    fsspec.asyn.sync(fs.loop, fs.set_session)
    seen: Counter = Counter()

    def before_call(model, **_):
        seen[model.name] += 1

    fs.s3.meta.events.register("before-call.s3", before_call)
    return seen


@pytest.fixture
def store(s3_server):
    base = Location(f"s3://{s3_server.new_prefix()}/run", s3_server.storage_options)
    fs, _ = files.filesystem(base.url, base.options)
    return base, count_requests(fs)


def test_a_read_is_one_request(store) -> None:
    base, seen = store
    (base / "mark.json").write_json({"rows": 3})
    (base / "empty.bin").write_bytes(b"")
    seen.clear()
    assert (base / "mark.json").read_json() == {"rows": 3}
    assert (base / "missing.json").read_mark() is None
    assert seen == Counter(GetObject=2)  # no HEAD for the size first
    assert (base / "empty.bin").read_bytes() == b""  # S3 refuses a range on an empty object


def test_a_listing_is_one_request(store) -> None:
    base, seen = store
    (base / "done" / "a.json").write_json({})
    (base / "done" / "b.json").write_json({})
    seen.clear()
    assert (base / "done").list_names() == ["a.json", "b.json"]
    assert seen == Counter(ListObjectsV2=1)
    seen.clear()
    assert (base / "nothing").list_names() == []
    assert sum(seen.values()) <= 2


def test_a_small_object_is_read_in_one_request_and_a_big_one_whole(store) -> None:
    base, seen = store
    small = pa.table({"x": list(range(1000))})
    big = pa.table({"x": pa.array(range(SMALL_OBJECT // 4), pa.int64())})  # > SMALL_OBJECT bytes
    (base / "small.parquet").write_table(small, compression="none")
    (base / "big.parquet").write_table(big, compression="none")
    seen.clear()
    assert (base / "small.parquet").read_table().equals(small)
    assert seen == Counter(GetObject=1)
    assert (base / "big.parquet").read_table().equals(big)


def test_marks_are_read_together_and_missing_ones_are_none(store) -> None:
    base, seen = store
    for i in range(0, 10, 2):
        (base / "_done" / f"{i}.json").write_json({"i": i})
    seen.clear()
    marks = read_marks([base / "_done" / f"{i}.json" for i in range(10)])
    assert marks == [{"i": i} if i % 2 == 0 else None for i in range(10)]
    assert seen == Counter(GetObject=10)


def test_many_reads_take_an_empty_object_and_a_missing_one(store) -> None:
    base, seen = store
    (base / "a.bin").write_bytes(b"abc")
    (base / "empty.bin").write_bytes(b"")  # S3 refuses its range: read again, plainly
    seen.clear()
    assert many.read_many([base / "a.bin", base / "empty.bin", base / "gone.bin"]) == [b"abc", b"", None]
    assert seen == Counter(GetObject=4, HeadObject=1)  # the plain read of the empty one sizes it first


def test_batched_uploads_publish_at_the_end_and_nothing_on_an_error(store) -> None:
    base, seen = store
    with files.batched_uploads():
        (base / "a.json").write_json({"a": 1})
        (base / "b.json").write_json({"b": 1})
        assert not (base / "a.json").exists()  # queued, not visible yet
    assert (base / "a.json").read_json() == {"a": 1} and (base / "b.json").read_json() == {"b": 1}
    spools = []
    with pytest.raises(RuntimeError), files.batched_uploads():
        atomic = (base / "c.json").atomic()
        atomic.handle.write(b"{}")
        atomic.commit()
        spools.append(atomic.temp_path)
        raise RuntimeError("task failed")
    assert not (base / "c.json").exists()
    assert not spools[0].exists()  # the local spool file is gone too
