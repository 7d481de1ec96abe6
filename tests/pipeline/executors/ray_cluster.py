"""A real Ray cluster for the tests: a head and one worker node on this machine, started with
docker/ray-node.sh (the compose file's entrypoint) once per test session and stopped at its end.
The two nodes have different working and temp folders and model caches, as machines that share
no disk would."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
VENV_BIN = Path(sys.executable).parent
NODE_SCRIPT = ROOT / "docker" / "ray-node.sh"


@dataclass
class RayCluster:
    address: str  # GCS host:port, what `executor.address` takes
    client: str  # ray://host:port, the Ray Client server
    dashboard: str  # the Jobs API, what `ray job submit --address` takes
    env: dict[str, str]  # environment for subprocesses: the venv first on PATH, auth off
    node_dirs: dict[str, Path]  # per node ("head", "worker"): its working folder, with `cache` (PIPELINE_CACHE) in it


def _ray_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["RAY_AUTH_MODE"] = "disabled"  # loopback test cluster; see /work/shared/DEPENDENCIES.md
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"  # `ray` and the job's `pipeline`
    # this module's test operators, for workers of drivers that do not add their cwd (Ray Client)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _wait_for(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {seconds:.0f} s for {what}")
        time.sleep(0.1)


def _start_node(args: list[str], log: Path, env: dict[str, str], folder: Path) -> subprocess.Popen:
    """A node whose processes run in `folder` and cache remote models in `folder/cache`."""
    folder.mkdir(parents=True)
    env = {**env, "PIPELINE_CACHE": str(folder / "cache")}
    with open(log, "wb") as handle:
        return subprocess.Popen(["sh", str(NODE_SCRIPT), *args], stdout=handle, stderr=subprocess.STDOUT, env=env,
                                cwd=folder, start_new_session=True)


def _wait_started(proc: subprocess.Popen, log: Path) -> None:
    def started() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"ray node exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        return "Ray runtime started" in log.read_text(errors="replace")

    _wait_for(started, 180, f"the Ray node logging to {log}")


def _agent_ports() -> list[str]:
    # fixed defaults (52365...) would collide with any other Ray on this machine
    return [f"--dashboard-agent-listen-port={_free_port()}", f"--dashboard-agent-grpc-port={_free_port()}",
            f"--metrics-export-port={_free_port()}", f"--runtime-env-agent-port={_free_port()}",
            "--min-worker-port=0", "--max-worker-port=0", "--num-cpus=1"]


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[RayCluster]:
    """A head and a worker node (1 CPU each); this process stays connected to it."""
    import ray

    # short: Ray's unix socket paths under it must stay below 108 bytes
    temp_dir = Path(tempfile.mkdtemp(prefix="rayt-", dir="/tmp"))
    env = _ray_env()
    gcs, dashboard, client = _free_port(), _free_port(), _free_port()
    previous_auth = os.environ.get("RAY_AUTH_MODE")
    procs: list[subprocess.Popen] = []
    try:
        head = _start_node(["head", f"--port={gcs}", f"--dashboard-port={dashboard}", f"--temp-dir={temp_dir}",
                            f"--ray-client-server-port={client}", *_agent_ports()],
                           temp_dir / "head.log", env, temp_dir / "head")
        procs.append(head)
        _wait_for(lambda: _port_open(gcs) or head.poll() is not None, 120, "the head's GCS port")
        # its own Ray temp folder too: machines that share no disk
        worker = _start_node(["worker", f"127.0.0.1:{gcs}", f"--temp-dir={temp_dir / 'wt'}", *_agent_ports()],
                             temp_dir / "worker.log", env, temp_dir / "worker")
        procs.append(worker)
        _wait_started(head, temp_dir / "head.log")
        _wait_started(worker, temp_dir / "worker.log")
        os.environ["RAY_AUTH_MODE"] = "disabled"
        ray.init(address=f"127.0.0.1:{gcs}", logging_level=logging.WARNING)
        _wait_for(lambda: sum(n["Alive"] for n in ray.nodes()) == 2, 60, "both nodes to register")
        yield RayCluster(f"127.0.0.1:{gcs}", f"ray://127.0.0.1:{client}", f"http://127.0.0.1:{dashboard}", env,
                         {"head": temp_dir / "head", "worker": temp_dir / "worker"})
    finally:
        if ray.is_initialized():
            ray.shutdown()
        for proc in reversed(procs):  # SIGTERM to `ray start --block` stops that node's processes
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if previous_auth is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = previous_auth
        shutil.rmtree(temp_dir, ignore_errors=True)




@dataclass
class ExtraNode:
    """A worker node added to a running cluster for one test, to be killed like a lost machine."""

    proc: subprocess.Popen  # `ray start --block`, leader of the node's own session
    folder: Path  # its working folder, with `cache` in it
    node_id: str

    def processes(self) -> list[int]:
        """Every live process of the node: its raylet and workers leave the launcher's process
        group (each worker leads its own) but stay in its session."""
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:  # gone meanwhile
                continue
            if int(fields[3]) == self.proc.pid and fields[0] != "Z":  # field 6 of proc(5): the session
                found.append(int(stat.parent.name))
        return found

    def kill(self) -> None:
        """SIGKILL every process of the node at once, as a machine that dies; waits until gone."""
        deadline = time.monotonic() + 30
        while pids := self.processes():
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"processes {pids} of the killed Ray node outlived SIGKILL")
            time.sleep(0.05)
        self.proc.wait()


def add_worker_node(cluster: RayCluster, name: str) -> ExtraNode:
    """Start one more worker node (1 CPU, its own working, temp and cache folders) on `cluster`;
    the caller kills it (`ExtraNode.kill`), which leaves the cluster as it was for other tests.
    This process must be connected to the cluster (the `ray_cluster` fixture connects it)."""
    import ray

    temp_dir = cluster.node_dirs["head"].parent
    before = {n["NodeID"] for n in ray.nodes()}
    proc = _start_node(["worker", cluster.address, f"--temp-dir={temp_dir / name}-t", *_agent_ports()],
                       temp_dir / f"{name}.log", cluster.env, temp_dir / name)
    node = ExtraNode(proc, temp_dir / name, "")
    try:
        _wait_started(proc, temp_dir / f"{name}.log")

        def registered() -> bool:
            new = [n["NodeID"] for n in ray.nodes() if n["Alive"] and n["NodeID"] not in before]
            node.node_id = new[0] if new else ""
            return bool(new)

        _wait_for(registered, 60, f"node {name} to register")
    except BaseException:
        node.kill()
        raise
    return node
