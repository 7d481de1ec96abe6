"""How the local executor starts its workers (issue 17, small runs start fast): a driver with no
thread but its main one forks them, so they start at once with what the driver imported; with
another thread alive (an object store client's event loop, a lease's heartbeat) they come from
the fork server, since a forked child would inherit that thread's locks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

from pipeline.executors.base import Task
from pipeline.executors.local import LocalBackend


def parent_pid(_: object) -> dict[str, int]:
    return {"parent": os.getppid()}


def parents(backend: LocalBackend) -> set[int]:
    tasks = [Task(parent_pid, i, f"task {i}") for i in range(4)]
    return {r["parent"] for r in backend.map(tasks, label="parents")}


FRESH_DRIVER = """
import json, os, threading
from pipeline.executors.local import LocalBackend
from tests.pipeline.executors.test_local_start import parents
assert threading.active_count() == 1
backend = LocalBackend(workers=2, progress=True)  # the bar's thread starts after the pool
print(json.dumps({"driver": os.getpid(), "parents": sorted(parents(backend))}))
backend.close()
"""


def test_a_driver_without_threads_forks_its_workers() -> None:
    # a process of its own: this one may hold threads of other tests (the S3 client's)
    from tests.conftest import ROOT

    proc = subprocess.run([sys.executable, "-c", FRESH_DRIVER], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout.splitlines()[-1])
    assert seen["parents"] == [seen["driver"]]


def test_a_driver_with_a_thread_uses_the_fork_server() -> None:
    idle = threading.Event()
    holder = threading.Thread(target=idle.wait, daemon=True)
    holder.start()
    backend = LocalBackend(workers=2, progress=False)
    try:
        found = parents(backend)
        assert len(found) == 1 and os.getpid() not in found  # the fork server's pid
    finally:
        backend.close()
        idle.set()
