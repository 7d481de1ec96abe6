"""The run lock on an object store: a lease object, on the real S3 server (SeaweedFS honours
`If-None-Match: *`), and reads that never trust the client's cached listings."""

from __future__ import annotations

import json
import socket
import time

import pytest
import s3fs

from storage import files
from storage.lease import LeaseLock
from storage.location import Location
from storage.lock import LOCK_NAME, FolderLocked, run_lock


def folder(s3_server) -> Location:
    return Location(f"s3://{s3_server.new_prefix()}/run", s3_server.storage_options)


def test_a_second_lease_on_the_same_folder_is_refused_until_released(s3_server):
    out = folder(s3_server)
    first = run_lock(out)
    assert isinstance(first, LeaseLock)
    first.acquire()
    second = LeaseLock(out)
    with pytest.raises(FolderLocked, match=f"in use by another run .*{socket.gethostname()}"):
        second.acquire()
    first.release()
    assert not (out / LOCK_NAME).exists()
    second.acquire()
    second.release()


def test_an_expired_lease_of_another_host_is_taken_over_a_live_one_is_not(s3_server):
    out = folder(s3_server)
    lease = {"token": "t", "pid": 1, "host": "elsewhere", "started": "then", "lifetime": 60}
    (out / LOCK_NAME).write_json({**lease, "renewed": time.time() - 5})
    with pytest.raises(FolderLocked, match="pid 1 on elsewhere"):
        LeaseLock(out).acquire()
    (out / LOCK_NAME).write_json({**lease, "renewed": time.time() - 61})
    taker = LeaseLock(out)
    taker.acquire()
    assert (out / LOCK_NAME).read_json()["host"] == socket.gethostname()
    taker.release()


def test_a_dead_process_on_this_host_loses_its_lease_at_once(s3_server):
    out = folder(s3_server)
    (out / LOCK_NAME).write_json({"token": "t", "pid": 2 ** 22 + 12345, "host": socket.gethostname(),
                                  "started": "then", "lifetime": 60, "renewed": time.time()})
    lock = LeaseLock(out)
    lock.acquire()  # kill -9, then rerun: no waiting for the lease to expire
    lock.release()


def test_the_heartbeat_renews_the_lease_and_notices_losing_it(s3_server):
    out = folder(s3_server)
    lock = LeaseLock(out, lifetime=2.0)
    lock.acquire()
    first = (out / LOCK_NAME).read_json()["renewed"]
    time.sleep(1.5)
    assert (out / LOCK_NAME).read_json()["renewed"] > first
    lock.check()
    (out / LOCK_NAME).delete()  # someone deleted it (or took it over)
    time.sleep(1.2)
    with pytest.raises(FolderLocked, match="was removed"):
        lock.check()
    lock.release()


def test_reads_do_not_trust_a_listing_cached_before_another_process_wrote(s3_server):
    out = folder(s3_server)
    marks = out / "_done"
    (marks / "a.json").write_json({"n": 1})
    assert marks.list_names() == ["a.json"]  # the client now caches this listing
    other = s3fs.S3FileSystem(**s3_server.storage_options, skip_instance_cache=True)  # a worker process
    big = json.dumps({"pad": "x" * (6 << 20)}).encode()  # large enough for s3fs to size it first
    other.pipe_file(files.filesystem(marks / "b.json")[1], big)
    assert (marks / "b.json").read_mark() == json.loads(big)
    assert (marks / "b.json").exists() and marks.list_names() == ["a.json", "b.json"]
