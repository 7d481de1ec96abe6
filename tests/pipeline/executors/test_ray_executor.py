"""The Ray executor on a real Ray cluster: a head and one worker node on this machine, started
with docker/ray-node.sh (the compose file's entrypoint) and stopped at the end of the session.

Checks: the same output and stats.json counts as the local executor; declared resources reach
Ray and operators are set up once per worker process; a worker killed mid-task is retried
without duplicates or loss; a killed driver resumes; an operator error stops the run naming
the shard; `ray job submit --working-dir . -- pipeline run` works; `address: null` starts a
local instance, with progress bars and the end summary; MinHash dedup gives the same output.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import PrivateAttr

from operators.base import DOC_KEY, SHARD_BITS, Mapper, Resources, with_column
from pipeline.recipe import validate_recipe
from pipeline.runner import StepError, run_recipe
from tests.core_helpers import read_output, read_rejected, recipe_dict, stats, write_parquet_shards, write_recipe
from tests.pipeline.executors.ray_cluster import NODE_SCRIPT, RayCluster, _ray_env, _wait_for

ROOT = Path(__file__).resolve().parents[3]
VENV_BIN = Path(sys.executable).parent
DEMO_STEPS = [
    {"normalize_text": {}},
    {"words_filter": {"min_words": 10}},
    {"exact_dedup": {"partitions": 4}},
    {"text_length_filter": {"max_chars": 600}},
]


# ---- operators that the tests run on Ray workers (imported there as tests.pipeline.executors.test_ray_executor) --


class KillOnce(Mapper):
    """SIGKILLs its own worker process on the second batch of shard `shard`, once: it creates
    `marker` (holding its pid) first, so the retried task finds it and goes on."""

    name = "test_kill_once"
    marker: str
    shard: int = 1

    def process(self, table: pa.Table) -> pa.Table:
        first = int(table.column(DOC_KEY)[0].as_py()) if table.num_rows else 0
        if first >> SHARD_BITS == self.shard and first & ((1 << SHARD_BITS) - 1) > 0:
            try:
                fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                return table
            os.write(fd, str(os.getpid()).encode())
            os.close(fd)
            os.kill(os.getpid(), signal.SIGKILL)
        return table


class HoldShard(Mapper):
    """If the file `hold` exists, shard `shard` waits (after touching `<hold>.waiting`) until it
    is removed, then fails: only a run that is about to be killed ever waits, and its stray
    task must not finish the shard in place of the rerun."""

    name = "test_hold_shard"
    hold: str
    shard: int = 3

    def process(self, table: pa.Table) -> pa.Table:
        first = int(table.column(DOC_KEY)[0].as_py()) if table.num_rows else 0
        if first >> SHARD_BITS == self.shard and os.path.exists(self.hold):
            Path(f"{self.hold}.waiting").touch()
            deadline = time.monotonic() + 120
            while os.path.exists(self.hold) and time.monotonic() < deadline:
                time.sleep(0.05)
            raise RuntimeError("held shard released: this task belongs to a killed run")
        return table


_SETUPS_IN_THIS_PROCESS = 0


class ResourceProbe(Mapper):
    """Records, per row, what Ray assigned to its task and how often this process ran setup()."""

    name = "test_resource_probe"
    resources: ClassVar[Resources] = Resources(cpus=0.5, memory_gb=0.25)
    _setups: int = PrivateAttr(0)

    def setup(self) -> None:
        global _SETUPS_IN_THIS_PROCESS
        _SETUPS_IN_THIS_PROCESS += 1

    def process(self, table: pa.Table) -> pa.Table:
        import ray

        assigned = ray.get_runtime_context().get_assigned_resources()
        n = table.num_rows
        table = with_column(table, "probe_cpus", [assigned.get("CPU", 0.0)] * n, pa.float64())
        table = with_column(table, "probe_memory", [assigned.get("memory", 0.0)] * n, pa.float64())
        table = with_column(table, "probe_pid", [os.getpid()] * n, pa.int64())
        return with_column(table, "probe_setups", [_SETUPS_IN_THIS_PROCESS] * n, pa.int64())


class Greedy(Mapper):
    """Declares more CPUs than any test node has."""

    name = "test_greedy"
    resources: ClassVar[Resources] = Resources(cpus=64)

    def process(self, table: pa.Table) -> pa.Table:
        return table


# ---- helpers ---------------------------------------------------------------------------------


@pytest.fixture
def shards(tmp_path: Path) -> str:
    write_parquet_shards(tmp_path / "in", 4, 150)
    return f"{tmp_path}/in/*.parquet"


def _recipe(inputs: str, out: Path, steps: list[Any], executor: dict[str, Any]) -> dict[str, Any]:
    data = recipe_dict(inputs, str(out), steps=steps)
    data["executor"] = executor
    return data


def _run(data: dict[str, Any], **kw: Any):
    return run_recipe(validate_recipe(data), **kw)


def _counts(out: Path) -> list[tuple[Any, ...]]:
    s = stats(out)
    return [(s["input"]["documents"], s["output"]["documents"], s["removed"])] + [
        (t["operator"], t["documents_in"], t["documents_out"], t["removed"], t["metrics"]) for t in s["steps"]
    ]


def assert_same_run(local: Path, other: Path) -> None:
    """Same output files, row for row and column for column; same rejected rows; same counts."""
    names = sorted(p.name for p in local.glob("*.parquet"))
    assert names and names == sorted(p.name for p in other.glob("*.parquet"))
    for name in names:
        a, b = pq.read_table(local / name), pq.read_table(other / name)
        assert a.equals(b), name
    key = lambda r: (r["operator"], r["id"])  # noqa: E731
    assert sorted(read_rejected(local), key=key) == sorted(read_rejected(other), key=key)
    assert _counts(local) == _counts(other)


# ---- tests -----------------------------------------------------------------------------------


def test_same_output_as_local(ray_cluster: RayCluster, shards: str, tmp_path: Path) -> None:
    _run(_recipe(shards, tmp_path / "local", DEMO_STEPS, {"type": "local", "workers": 1}))
    result = _run(_recipe(shards, tmp_path / "ray", DEMO_STEPS, {"type": "ray", "address": ray_cluster.address}))
    assert_same_run(tmp_path / "local", tmp_path / "ray")
    s = stats(tmp_path / "ray")
    dedup = next(t for t in s["steps"] if t["operator"] == "exact_dedup")
    assert dedup["documents_removed"] > 0 and len(dedup["stages"]) >= 2  # its stages ran as Ray tasks
    assert result.kept == s["output"]["documents"] > 0


def test_declared_resources_reach_ray_and_operators_are_set_up_once_per_worker(
        ray_cluster: RayCluster, shards: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    data = _recipe(shards, out, [{"tests.pipeline.executors.test_ray_executor:ResourceProbe": {}}],
                   {"type": "ray", "address": ray_cluster.address})
    data["input"]["batch_size"] = 25  # 6 batches per shard, 24 in all
    _run(data)
    rows = read_output(out)
    assert len(rows) == 600
    assert {r["probe_cpus"] for r in rows} == {0.5}
    assert {r["probe_memory"] for r in rows} == {0.25e9}
    assert {r["probe_setups"] for r in rows} == {1}  # once per process, not per batch or task
    assert len({r["probe_pid"] for r in rows}) <= 4


def test_oversized_declaration_is_cut_to_the_largest_node(ray_cluster: RayCluster, shards: str, tmp_path: Path,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "out"
    data = _recipe(shards, out, [{"tests.pipeline.executors.test_ray_executor:Greedy": {}}], {"type": "ray", "address": ray_cluster.address})
    with caplog.at_level(logging.WARNING, logger="pipeline.executors.ray"):
        result = _run(data)
    assert result.kept == 600
    assert "test_greedy declares 64 CPUs; the largest node has 1" in caplog.text


def test_worker_killed_mid_task_is_retried_without_duplicates_or_loss(
        ray_cluster: RayCluster, shards: str, tmp_path: Path) -> None:
    marker = tmp_path / "killed"
    steps = DEMO_STEPS[:3] + [{"tests.pipeline.executors.test_ray_executor:KillOnce": {"marker": str(marker)}}] + DEMO_STEPS[3:]
    local_marker = tmp_path / "never"
    local_marker.write_text("")  # present: the local run never kills itself
    local_steps = [s if "tests.pipeline.executors.test_ray_executor:KillOnce" not in s else
                   {"tests.pipeline.executors.test_ray_executor:KillOnce": {"marker": str(local_marker)}} for s in steps]
    _run(_recipe(shards, tmp_path / "local", local_steps, {"type": "local", "workers": 1}))
    _run(_recipe(shards, tmp_path / "ray", steps, {"type": "ray", "address": ray_cluster.address}))
    assert marker.exists(), "the worker was never killed"
    killed_pid = int(marker.read_text())
    # it died mid-write: its partial file is there under a temporary name, never as output
    assert list((tmp_path / "ray").glob(f".part-001*{killed_pid}*"))
    assert_same_run(tmp_path / "local", tmp_path / "ray")
    ids = [r["id"] for r in read_output(tmp_path / "ray")] + [r["id"] for r in read_rejected(tmp_path / "ray")]
    assert len(ids) == len(set(ids)) == 600


def test_operator_error_stops_the_run_naming_the_shard(ray_cluster: RayCluster, tmp_path: Path) -> None:
    write_parquet_shards(tmp_path / "in", 2, 20)
    bad = tmp_path / "in" / "part-001.parquet"
    rows = pq.read_table(bad).to_pylist()
    rows[5]["text"] = "a boom here"
    pq.write_table(pa.Table.from_pylist(rows), bad)
    data = _recipe(f"{tmp_path}/in/*.parquet", tmp_path / "out", [{"tests.custom_ops:ExplodingMapper": {}}],
                   {"type": "ray", "address": ray_cluster.address})
    with pytest.raises(StepError, match=r"exploding_mapper\) failed on shard .*part-001\.parquet rows 0\.\.19"):
        _run(data)
    assert not (tmp_path / "out" / "part-001.parquet").exists()


def _pipeline_run(recipe: Path, env: dict[str, str], *extra: str) -> subprocess.Popen:
    return subprocess.Popen([str(VENV_BIN / "pipeline"), "run", str(recipe), *extra], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_killed_driver_resumes_on_a_local_instance_with_progress(ray_cluster: RayCluster, shards: str,
                                                                  tmp_path: Path) -> None:
    """A driver (a Ray Client, `address: ray://...`) killed mid-run; the rerun finishes only what
    was left. It runs with `address: null` (a local Ray instance of `workers` CPUs, started and
    stopped by the run): the executor is not part of the recipe's fingerprint. Its progress bars
    and the end summary show."""
    hold = tmp_path / "hold"
    steps = DEMO_STEPS[:2] + [{"tests.pipeline.executors.test_ray_executor:HoldShard": {"hold": str(hold)}}] + DEMO_STEPS[2:]
    out = tmp_path / "ray"
    recipe = write_recipe(tmp_path / "ray.yaml", _recipe(shards, out, steps, {"type": "ray", "address": ray_cluster.client}))
    hold.write_text("")
    driver = _pipeline_run(recipe, ray_cluster.env, "--quiet")
    marks = [out / "_work" / "seg0" / "_done" / f"part-{i:03d}.json" for i in range(3)]
    try:
        _wait_for(lambda: all(m.exists() for m in marks) and Path(f"{hold}.waiting").exists()
                  or driver.poll() is not None, 120, "shards 0-2 done and shard 3 waiting")
        if driver.poll() is not None:
            pytest.fail(f"the driver exited with {driver.returncode} before it was killed: {driver.communicate()[1][-3000:]}")
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.communicate()
    assert not (out / "_work" / "seg0" / "_done" / "part-003.json").exists()
    before = {m: m.stat().st_mtime_ns for m in marks}
    hold.unlink()
    rerun = _pipeline_run(recipe, _ray_env(), "--set", "executor.address=null", "--set", "executor.workers=2")
    stdout, stderr = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, stderr
    assert {m: m.stat().st_mtime_ns for m in marks} == before  # finished shards were not redone
    bars = re.findall(r"\b(\d+)/(\d+)\b", stderr)
    assert ("150", "150") in bars, stderr  # segment 0's bar: only shard 3 was left, and it completed
    assert any(a == b != "150" for a, b in bars), stderr  # segment 1's bar (all shards) completed
    assert "600 in = " in stdout and "exact_dedup" in stdout  # the end summary
    _run(_recipe(shards, tmp_path / "local", steps, {"type": "local", "workers": 1}))
    assert_same_run(tmp_path / "local", out)


def test_ray_job_submit(ray_cluster: RayCluster, shards: str, tmp_path: Path) -> None:
    out = tmp_path / "job"
    recipe = write_recipe(tmp_path / "job.yaml", _recipe(shards, out, DEMO_STEPS, {"type": "ray", "address": "auto"}))
    cmd = [str(VENV_BIN / "ray"), "job", "submit", "--address", ray_cluster.dashboard, "--working-dir", ".",
           "--", "pipeline", "run", str(recipe), "--quiet"]
    job = subprocess.run(cmd, cwd=ROOT, env=ray_cluster.env, capture_output=True, text=True, timeout=300)
    log = job.stdout + job.stderr
    assert job.returncode == 0, log
    assert "succeeded" in log and "600 in = " in log, log  # the job's output carries the summary
    _run(_recipe(shards, tmp_path / "local", DEMO_STEPS, {"type": "local", "workers": 1}))
    assert_same_run(tmp_path / "local", out)


def _near_duplicate_shards(folder: Path, shards: int = 4, per_shard: int = 100) -> str:
    """Documents of 30-80 words; every 4th is an earlier one (often from another shard) with one
    word replaced: near duplicates that exact dedup misses."""
    import random

    from tests.core_helpers import WORDS

    rng = random.Random(7)
    folder.mkdir(parents=True, exist_ok=True)
    docs: list[str] = []
    for s in range(shards):
        rows = []
        for i in range(per_shard):
            if docs and i % 4 == 3:
                words = rng.choice(docs).split()
                words[rng.randrange(len(words))] = "changed"
                text = " ".join(words)
            else:
                text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(30, 80)))
            docs.append(text)
            rows.append({"id": f"s{s}-{i}", "text": text})
        pq.write_table(pa.Table.from_pylist(rows), folder / f"part-{s:03d}.parquet")
    return f"{folder}/*.parquet"


def test_minhash_dedup_same_output_as_local(ray_cluster: RayCluster, tmp_path: Path) -> None:
    inputs = _near_duplicate_shards(tmp_path / "in")
    steps = [{"normalize_text": {}},
             {"minhash_dedup": {"threshold": 0.7, "partitions": 3, "cc_rounds": 2, "cluster_columns": True}}]
    _run(_recipe(inputs, tmp_path / "local", steps, {"type": "local", "workers": 1}))
    _run(_recipe(inputs, tmp_path / "ray", steps, {"type": "ray", "address": ray_cluster.address}))
    assert_same_run(tmp_path / "local", tmp_path / "ray")
    removed = read_rejected(tmp_path / "ray")
    assert len(removed) >= 50 and {r["operator"] for r in removed} == {"minhash_dedup"}
    assert {r["id"].split("-")[0] for r in removed} >= {"s1", "s2", "s3"}


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def test_docker_files_run_the_tested_entrypoint() -> None:
    """No Docker engine here: the fixture above runs docker/ray-node.sh as the compose services
    do. This parses the image and the compose file and checks that they fit together: the
    entrypoint is that script, copied onto PATH and executable; the image's Python is one the
    project supports; the roles and the head's port the services pass are the ones the script
    takes; the extras installed exist."""
    import json as json_module
    import tomllib

    import yaml
    from packaging.specifiers import SpecifierSet

    steps = dockerfile_instructions(ROOT / "docker" / "Dockerfile")
    args = {k: [a for kk, a in steps if kk == k] for k in {k for k, _ in steps}}
    python = re.fullmatch(r"python:(\d+\.\d+)[-\w.]*", args["FROM"][0])
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert python and python.group(1) + ".0" in SpecifierSet(project["requires-python"]), args["FROM"]
    for copy in args["COPY"]:  # every file the image copies exists
        assert all((ROOT / src).exists() for src in copy.split()[:-1]), copy
    entrypoint = json_module.loads(args["ENTRYPOINT"][0])
    program = entrypoint[0]
    copied = [c.split() for c in args["COPY"] if c.split()[-1].rstrip("/").endswith(("/usr/local/bin", program))]
    assert len(copied) == 1 and Path(copied[0][0]).name == program, args["COPY"]
    script = ROOT / copied[0][0]
    assert script == NODE_SCRIPT
    assert os.access(script, os.X_OK) or any(f"chmod +x /usr/local/bin/{program}" in r for r in args["RUN"])
    assert subprocess.run(["sh", "-n", str(script)]).returncode == 0
    text = script.read_text()
    roles = set(re.findall(r"^\s+(\w+)\)$", text, re.M))
    port = re.search(r"RAY_PORT:-(\d+)", text).group(1)
    assert roles == {"head", "worker"}
    assert json_module.loads(args["CMD"][0])[0] in roles
    services = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())["services"]
    for name, service in services.items():
        role, *rest = service["command"]
        assert role in roles, name
        if role == "worker":
            assert rest[0] == f"{services_head(services)}:{port}", name
    extras = set().union(*(re.findall(r"\.\[([\w,]+)\]", r) for r in args["RUN"]))
    assert extras and {e for group in extras for e in group.split(",")} <= set(project["optional-dependencies"])
    assert not any(word in " ".join(args["RUN"]) for word in ("wget", "curl", "huggingface-cli", "snapshot_download"))


def services_head(services: dict[str, Any]) -> str:
    """The compose service running the head role (its name is its host name)."""
    (name,) = [n for n, s in services.items() if s["command"][0] == "head"]
    return services[name].get("hostname", name)
