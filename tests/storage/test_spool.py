"""Files spooled locally on their way to a store (issue 14): a process killed with SIGKILL
mid-upload leaves its spool folder, and the next process that writes to a store deletes it;
folders of live processes and anything the pipeline did not write stay. Real processes, the real
S3 server, a private TMPDIR per test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.core_helpers import recipe_dict, write_parquet_shards, write_recipe

HOLD_A_STAGED_FILE = """
import sys, time
from storage import files
url, options = sys.argv[1], {options!r}
upload = files.AtomicFile(url, options)
upload.handle.write(b"x" * 1000)
upload.handle.flush()
with files.staging_dir(url + "-dir", options) as folder:
    (folder / "model.bin").write_bytes(b"y")
    print(upload.temp_path, folder, flush=True)
    time.sleep(600)
"""

WRITE_ONE = """
import sys
from storage import files
files.write_bytes(sys.argv[1], b"done", {options!r})
print(files.spool_dir(), flush=True)
"""


def python(code: str, tmp: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "TMPDIR": str(tmp), "PYTHONPATH": str(ROOT)})


def spool_root(tmp: Path) -> Path:
    return tmp / f"pipeline-spool-{os.getuid()}"


def test_a_process_killed_mid_upload_leaves_a_spool_the_next_one_deletes(s3_server, tmp_path: Path) -> None:
    options = s3_server.storage_options
    url = f"s3://{s3_server.new_prefix()}/out/file.bin"
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    killed = python(HOLD_A_STAGED_FILE.format(options=options), tmp, url)
    alive = python(HOLD_A_STAGED_FILE.format(options=options), tmp, url + "-other")
    try:
        staged, folder = (Path(p) for p in killed.stdout.readline().split())
        alive_staged = Path(alive.stdout.readline().split()[0])
        assert staged.read_bytes() == b"x" * 1000 and (folder / "model.bin").exists()
        assert staged.parent.parent == spool_root(tmp) and staged.parent.name.startswith(f"{killed.pid}-")
        killed.kill()
        killed.wait()
        assert staged.exists() and folder.exists()  # what SIGKILL leaves
        mine = spool_root(tmp) / "notes.txt"  # never the pipeline's: stays
        mine.write_text("keep")
        other = spool_root(tmp) / "12-ab"
        other.mkdir()

        nxt = python(WRITE_ONE.format(options=options), tmp, url + "-next")
        nxt_spool = Path(nxt.stdout.readline().strip())
        assert nxt.wait(60) == 0
        assert not staged.parent.exists()  # the killed process's whole folder
        assert alive_staged.exists()  # a live process's staged file
        assert mine.read_text() == "keep" and other.is_dir()
        assert not nxt_spool.exists()  # a process that ends normally leaves no empty folder
    finally:
        for proc in (killed, alive):
            proc.kill()
            proc.wait()
    assert s3_server.filesystem().cat_file(url.removeprefix("s3://") + "-next") == b"done"
    assert not s3_server.filesystem().exists(url.removeprefix("s3://"))  # never uploaded: never visible


@pytest.mark.timeout(300)
def test_a_driver_killed_mid_run_leaves_no_spool_after_the_next_run(s3_server, tmp_path: Path) -> None:
    write_parquet_shards(tmp_path / "in", 4, 150)
    data = recipe_dict(f"{tmp_path}/in/*.parquet", f"s3://{s3_server.new_prefix()}/out",
                       [{"tests.custom_ops:SlowMapper": {"seconds": 0.2}}, {"words_filter": {"min_words": 10}}],
                       workers=2)
    data["input"]["batch_size"] = 10
    data["storage_options"] = s3_server.storage_options
    recipe = write_recipe(tmp_path / "r.yaml", data)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp), "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "pipeline.cli", "run", str(recipe), "--quiet"]
    run = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           start_new_session=True)
    deadline = time.monotonic() + 120
    while not [p for p in spool_root(tmp).glob("*/upload-*") if p.stat().st_size > 0]:  # an output being spooled
        assert run.poll() is None and time.monotonic() < deadline, run.stderr.read() if run.stderr else ""
        time.sleep(0.05)
    os.killpg(run.pid, signal.SIGKILL)  # the driver and its workers, mid-upload
    run.wait()
    left = list(spool_root(tmp).glob("*/*"))
    assert left, "the kill left nothing to clean"

    again = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert again.returncode == 0, again.stderr
    assert not any(p.exists() for p in left)
    assert list(spool_root(tmp).iterdir()) == []
