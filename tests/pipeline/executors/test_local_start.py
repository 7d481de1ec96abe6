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


SPLIT_RUN = """
import json, os, sys
import pyarrow as pa, pyarrow.parquet as pq
from pipeline import cli
from pipeline.executors import local
methods = []
context = local._context
local._context = lambda: (ctx := context(), methods.append(ctx.get_start_method()))[0]
folder = sys.argv[1]
pq.write_table(pa.table({"text": [f"document number {i} has words enough" for i in range(40)]}),
               f"{folder}/big.parquet", row_group_size=10)
code = cli.main(["run", f"{folder}/r.yaml", "--quiet"])
print(json.dumps({"code": code, "start_methods": sorted(set(methods))}))
"""


def test_a_run_that_joins_a_big_files_pieces_still_forks_its_workers(tmp_path) -> None:
    # the driver's joining thread starts after the workers, so they need no fork server
    from tests.conftest import ROOT
    from tests.core_helpers import recipe_dict, write_recipe

    data = recipe_dict(str(tmp_path / "big.parquet"), str(tmp_path / "out"), [{"words_filter": {"min_words": 3}}],
                       workers=2)
    data["input"]["rows_per_task"] = 10
    write_recipe(tmp_path / "r.yaml", data)
    proc = subprocess.run([sys.executable, "-c", SPLIT_RUN, str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1]) == {"code": 0, "start_methods": ["fork"]}
    assert len(list((tmp_path / "out").glob("big*.parquet"))) == 1
