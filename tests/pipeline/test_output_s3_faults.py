"""An output on S3 under faults (issue 14): the driver killed with SIGKILL at random points, the
S3 server stopped mid-run, a second run on the same URL. Real subprocesses, a real server."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import s3fs

from pipeline.recipe import validate_recipe
from pipeline.runner import run_recipe
from storage.location import Location
from storage.lock import LOCK_NAME
from tests.conftest import ROOT
from tests.core_helpers import recipe_dict, write_parquet_shards, write_recipe
from tests.pipeline.test_output_s3 import snapshot
from tests.s3_server import start_server, stop_server

STEPS = [
    {"normalize_text": {}},
    {"tests.custom_ops:SlowMapper": {"seconds": 0.03}},
    {"words_filter": {"min_words": 10}},
    {"tests.custom_ops:SlowMapper": {"seconds": 0.02}},
    {"text_length_filter": {"max_chars": 600}},
]


def recipe(input_glob: str, out: str, options: dict[str, Any] | None) -> dict[str, Any]:
    data = recipe_dict(input_glob, out, steps=STEPS, workers=2)
    data["input"]["batch_size"] = 10  # many batches: the run lasts a few seconds
    if options:
        data["storage_options"] = options
    return data


def start(path: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pipeline.cli", "run", str(path), "--quiet"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def run_cli(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", "run", str(path), "--quiet"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


def wait_for(server, key: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    """Until `key` (or, ending in '/', something under it) exists on the server."""
    fs = s3fs.S3FileSystem(**server.storage_options, skip_instance_cache=True, use_listings_cache=False)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            if (fs.find(key) if key.endswith("/") else fs.exists(key)):
                return
        except (OSError, FileNotFoundError):
            pass
        time.sleep(0.05)
    pytest.fail(f"{key} did not appear")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> tuple[str, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("s3faults")
    write_parquet_shards(folder / "in", 6, 150)
    reference = folder / "reference"
    run_recipe(validate_recipe(recipe(f"{folder}/in/*.parquet", str(reference), None)))
    return f"{folder}/in/*.parquet", snapshot(Location(reference))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_driver_killed_at_a_random_point_then_rerun_equals_the_uninterrupted_run(s3_server, dataset, tmp_path, seed):
    input_glob, reference = dataset
    bucket = s3_server.new_prefix()
    url = f"s3://{bucket}/out"
    path = write_recipe(tmp_path / "r.yaml", recipe(input_glob, url, s3_server.storage_options))
    proc = start(path)
    wait_for(s3_server, f"{bucket}/out/{LOCK_NAME}", proc)  # the run holds the output: it is working
    time.sleep(random.Random(seed).uniform(0.0, 2.0))
    killed = proc.poll() is None
    os.kill(proc.pid, signal.SIGKILL)  # the driver only, as a crash would
    proc.wait()
    time.sleep(0.3)
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # then its orphaned workers, so they do not outlive the test
    except ProcessLookupError:
        pass
    again = run_cli(path)
    assert again.returncode == 0, again.stderr
    assert snapshot(Location(url, s3_server.storage_options)) == reference
    assert killed, "the run ended before the kill point"


def test_a_second_run_on_the_same_url_is_refused(s3_server, dataset, tmp_path):
    input_glob, reference = dataset
    bucket = s3_server.new_prefix()
    url = f"s3://{bucket}/out"
    path = write_recipe(tmp_path / "r.yaml", recipe(input_glob, url, s3_server.storage_options))
    first = start(path)
    wait_for(s3_server, f"{bucket}/out/{LOCK_NAME}", first)
    second = run_cli(path)
    assert second.returncode == 1 and "Traceback" not in second.stderr
    assert f"output {url} is in use by another run (pid {first.pid}" in second.stderr, second.stderr
    assert first.wait(timeout=600) == 0, first.communicate()
    assert snapshot(Location(url, s3_server.storage_options)) == reference


def test_the_server_stopped_mid_run_fails_clearly_and_a_rerun_after_restart_completes(dataset, tmp_path):
    input_glob, reference = dataset
    server = start_server(tmp_path / "weed")
    try:
        bucket = server.new_bucket()
        url = f"s3://{bucket}/out"
        path = write_recipe(tmp_path / "r.yaml", recipe(input_glob, url, server.storage_options))
        proc = start(path)
        wait_for(server, f"{bucket}/out/_work/seg0/_done/", proc)  # some shards done, others running
        stop_server(server)
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 1, stderr
        assert "Traceback" not in stderr and url in stderr, stderr
        assert "cannot write" in stderr and "rerun the same command to resume" in stderr, stderr
        server = _restart(server, tmp_path / "weed")
        again = run_cli(path)
        assert again.returncode == 0, again.stderr
        assert snapshot(Location(url, server.storage_options)) == reference
    finally:
        stop_server(server)


def _restart(server, folder: Path):
    """The same server again (same ports, same data); its ports take a few seconds to be free."""
    deadline = time.monotonic() + 120
    while True:
        try:
            return start_server(folder, ports=server.ports)
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(2)
