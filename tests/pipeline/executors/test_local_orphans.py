"""A driver killed with SIGKILL cannot stop its worker processes; they end by themselves within
seconds (they watch their parent), instead of waiting for work forever."""

from __future__ import annotations

import os
import signal
import time

import psutil
import pytest

from tests.core_helpers import recipe_dict, write_parquet_shards, write_recipe
from tests.pipeline.test_resume_kill import start


@pytest.mark.timeout(120)
def test_workers_end_when_their_driver_is_killed(tmp_path) -> None:
    write_parquet_shards(tmp_path / "in", 4, 200)
    steps = [{"tests.custom_ops:SlowMapper": {"seconds": 0.2}}, {"words_filter": {"min_words": 3}}]
    data = recipe_dict(f"{tmp_path}/in/*.parquet", str(tmp_path / "out"), steps=steps, workers=2)
    data["input"]["rows_per_task"] = 0
    data["input"]["batch_size"] = 20
    proc = start(write_recipe(tmp_path / "r.yaml", data))
    driver = psutil.Process(proc.pid)
    deadline = time.monotonic() + 60
    workers: list[psutil.Process] = []
    while len(workers) < 2 and time.monotonic() < deadline:  # the pool's processes (a fork server's too)
        workers = [p for p in driver.children(recursive=True) if "python" in p.name()]
        time.sleep(0.1)
    assert len(workers) >= 2, "the run made no worker processes"
    os.kill(proc.pid, signal.SIGKILL)  # the driver alone, as an out-of-memory killer would
    proc.wait()
    gone, alive = psutil.wait_procs(workers, timeout=10)
    for p in alive:
        p.kill()
    assert alive == [], f"{len(alive)} worker(s) outlived their driver"
