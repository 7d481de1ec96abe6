"""The local copy of a remote model (storage.cache) after a process was killed with SIGKILL in the
middle of downloading it: the next copy removes the staging folder the killed one left, under the
cache key's lock, and holds the right bytes. A real process, a real model-sized object on the
real S3 server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from storage import cache
from tests.conftest import ROOT

MODEL_BYTES = 64 * 2**20  # a small model: a download of a few tenths of a second on loopback

COPY = """
import sys
from storage import cache
cache.local_copy(sys.argv[1], {options!r})
"""


def _staging(root: Path) -> list[Path]:
    return sorted(p for p in root.glob(".*") if ".tmp-" in p.name) if root.is_dir() else []


def _kill_mid_download(child: subprocess.Popen, root: Path) -> Path:
    """SIGKILL `child` once its staging folder holds the small first file: it is then downloading
    the large one. Returns the staging folder it leaves."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and child.poll() is None:
        found = [p for p in _staging(root) if (p / "config.json").exists()]
        if found:
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
            return found[0]
        time.sleep(0.001)
    child.kill()
    raise AssertionError(f"the download ended (exit {child.poll()}) before it could be killed midway")


def test_a_download_killed_midway_leaves_no_staging_folder_after_the_next_copy(s3_server, tmp_path, monkeypatch):
    options = s3_server.storage_options
    url = f"s3://{s3_server.new_prefix()}/models/lm"
    fs = s3_server.filesystem()
    weights = os.urandom(2**20) * (MODEL_BYTES // 2**20)
    fs.pipe_file(f"{url}/config.json", b'{"dim": 64}')  # sorted first: downloaded first
    fs.pipe_file(f"{url}/weights.bin", weights)
    monkeypatch.setenv("PIPELINE_CACHE", str(tmp_path / "cache"))
    root = cache.cache_root()
    child = subprocess.Popen([sys.executable, "-c", COPY.format(options=options), url], cwd=ROOT,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    left = _kill_mid_download(child, root)
    assert left.is_dir() and not (left / cache.DONE).exists()  # killed in the middle: a partial copy
    assert not (left / "weights.bin").exists() or (left / "weights.bin").stat().st_size < MODEL_BYTES
    other = root / ".0123456789abcdef01234567.tmp-1-abcdef01"  # another model's download: not ours to touch
    other.mkdir()

    copy = cache.local_copy(url, options)
    assert (copy / "weights.bin").read_bytes() == weights
    assert (copy / "config.json").read_bytes() == b'{"dim": 64}'
    assert _staging(root) == [other]
