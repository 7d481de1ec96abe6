"""Incomplete multipart uploads on an S3 output (issue 14): a process killed with SIGKILL in the
middle of uploading a large object leaves one (unlisted, billed on AWS). The next run, once it
holds the run lock, aborts those under keys this pipeline writes and leaves the user's alone.
Real processes, the real S3 server (SeaweedFS)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pipeline.io.readers import InputError
from pipeline.recipe import validate_recipe
from pipeline.runner import run_recipe
from storage import uploads
from storage.location import Location
from storage.lock import run_lock
from tests.conftest import ROOT
from tests.pipeline.test_output_s3 import demo_recipe
from tests.storage.test_uploads import start_upload

# s3fs's own multipart path (as for any object of 100 MiB and more, in parts of 5 MiB here), the
# process stopping for good after the first part: then it is killed
UPLOAD_THEN_HANG = """
import sys, time
import fsspec.callbacks
from storage import files

class HangAfterThePart(fsspec.callbacks.Callback):
    def relative_update(self, inc=1):
        print("part uploaded", flush=True)
        time.sleep(600)

local, url = sys.argv[1], sys.argv[2]
fs, inner = files.filesystem(url, {options!r})
fs.put_file(local, inner, chunksize=5 * 2**20, max_concurrency=1, callback=HangAfterThePart())
"""


def kill_mid_upload(options: dict, url: str, tmp_path) -> None:
    local = tmp_path / "big.bin"
    local.write_bytes(os.urandom(11 * 2**20))  # three parts of 5 MiB at most
    child = subprocess.Popen([sys.executable, "-c", UPLOAD_THEN_HANG.format(options=options), str(local), url],
                             cwd=ROOT, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert child.stdout.readline() == "part uploaded\n"
    finally:
        child.kill()  # SIGKILL
        child.wait()


def test_a_run_aborts_the_incomplete_uploads_it_owns_and_only_those(s3_server, tmp_path):
    fs = s3_server.filesystem()
    options = s3_server.storage_options
    prefix = s3_server.new_prefix()
    url = f"s3://{prefix}/runs/demo"
    data = demo_recipe(url, options, shard_local_only=True)
    data["steps"] = data["steps"][:1]
    run_recipe(validate_recipe(data))
    out = Location(url, options)
    shard = (out / "_work" / "recipe.json").read_json()["shards"][0]
    kill_mid_upload(options, f"{url}/_work/seg0/{shard}.parquet", tmp_path)
    start_upload(fs, f"{prefix}/runs/demo/{shard}.parquet")  # an output shard of the run
    start_upload(fs, f"{prefix}/runs/demo/rejected/normalize_text/{shard}.parquet")
    users = {"notes/big.bin": start_upload(fs, f"{prefix}/runs/demo/notes/big.bin"),
             "mine.parquet": start_upload(fs, f"{prefix}/runs/demo/mine.parquet"),  # not a shard of the run
             ".pipeline.lock": start_upload(fs, f"{prefix}/runs/demo/.pipeline.lock")}
    beside = start_upload(fs, f"{prefix}/runs/demo-other/_work/x.parquet")
    assert len(uploads.incomplete_uploads(url, options)) == 6

    held = run_lock(out)  # another run active: nothing is aborted
    held.acquire()
    try:
        with pytest.raises(InputError, match="in use by another run"):
            run_recipe(validate_recipe(data))
    finally:
        held.release()
    assert len(uploads.incomplete_uploads(url, options)) == 6

    run_recipe(validate_recipe(data))  # a resume (a no-op): it takes the lock, then aborts ours
    assert uploads.incomplete_uploads(url, options) == sorted(users.items())
    assert uploads.incomplete_uploads(f"s3://{prefix}/runs/demo-other", options) == [("_work/x.parquet", beside)]
