"""The run lock on an object store: a lease object, on the real S3 server (SeaweedFS honours
`If-None-Match: *`), and reads that never trust the client's cached listings."""

from __future__ import annotations

import json
import socket
import threading
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
    deadline = time.time() + 20  # a renewal every 0.5 s; a loaded machine makes requests slow
    while lock.lost is None and time.time() < deadline:
        time.sleep(0.1)
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


def _renew_until_lost(lock: LeaseLock, outcome: list[bool]) -> None:
    deadline = time.time() + 4.0
    while time.time() < deadline:
        if not lock._renew():
            outcome.append(False)
            return
    outcome.append(True)


def test_renewals_racing_a_removal_never_bring_the_lease_back(s3_server):
    """Another party deletes the lease (or takes it over) while the heartbeat renews it. A renewal
    that reads "ours" and then writes brings a removed lease back (or overwrites the taker's), so
    two runs hold the folder. Renewals run back to back here, so a delete lands between a read and
    a write in about half the trials of a read-then-write renewal."""
    out = folder(s3_server)
    for trial in range(12):
        lock = LeaseLock(out, lifetime=600.0)  # its own heartbeat stays asleep
        lock.acquire()
        outcome: list[bool] = []

        renewer = threading.Thread(target=_renew_until_lost, args=(lock, outcome))
        renewer.start()
        time.sleep(0.05 + 0.013 * trial)
        (out / LOCK_NAME).delete()
        renewer.join()
        assert outcome == [False], f"trial {trial}: the renewals went on after the lease was deleted"
        assert not (out / LOCK_NAME).exists()
        assert "was removed" in (lock.lost or "")
        lock.release()


def test_a_lease_rewritten_with_our_own_token_is_renewed_again(s3_server):
    """A put of ours that the client retried leaves our lease with another ETag than we know: that
    renewal fails as a store error would, and the next one holds again (not a lost lease)."""
    out = folder(s3_server)
    lock = LeaseLock(out, lifetime=600.0)
    lock.acquire()
    (out / LOCK_NAME).write_bytes(lock._body())
    with pytest.raises(OSError):
        lock._renew()
    assert lock.lost is None
    assert lock._renew() is True
    lock.check()
    lock.release()
    assert not (out / LOCK_NAME).exists()
