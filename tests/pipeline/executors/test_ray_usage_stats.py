"""The Ray executor turns Ray's usage statistics off (nothing may reach the network at run time):
a task of a run on a local Ray instance sees them disabled (issue 12, item 12)."""

from __future__ import annotations

import os
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq

from operators.base import Mapper
from tests.conftest import ROOT
from tests.core_helpers import recipe_dict, write_recipe


class UsageStatsProbe(Mapper):
    """Records, in a column, whether Ray would send usage statistics from this worker."""

    name = "test_usage_stats_probe"

    def process(self, table: pa.Table) -> pa.Table:
        from ray._common.usage.usage_lib import usage_stats_enabled

        value = f"{usage_stats_enabled()}:{os.environ.get('RAY_USAGE_STATS_ENABLED')}"
        return table.append_column("usage_stats", pa.array([value] * table.num_rows, pa.string()))


def test_ray_usage_stats_are_disabled_in_the_workers(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    pq.write_table(pa.table({"text": ["one document", "another one"]}), folder / "a.parquet")
    out = tmp_path / "out"
    data = recipe_dict(f"{folder}/a.parquet", str(out), steps=[{"tests.pipeline.executors.test_ray_usage_stats:UsageStatsProbe": {}}])
    data["executor"] = {"type": "ray", "address": None, "workers": 1}
    recipe = write_recipe(tmp_path / "r.yaml", data)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env["RAY_USAGE_STATS_CONFIG_PATH"] = str(tmp_path / "no-config.json")  # no user opt-out on this machine
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run([sys.executable, "-m", "pipeline.cli", "run", str(recipe), "--quiet"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert set(pq.read_table(out / "a.parquet").column("usage_stats").to_pylist()) == {"False:0"}


def test_a_joined_cluster_that_sends_usage_stats_is_named_in_a_warning(tmp_path):
    """A cluster's head decides at `ray start`; the run cannot turn it off there, so it warns.
    The head runs without a dashboard (the part that would send), so this test sends nothing."""
    import tempfile

    from tests.pipeline.executors.ray_cluster import _agent_ports, _free_port, _port_open, _ray_env, _wait_for

    folder = tmp_path / "in"
    folder.mkdir()
    pq.write_table(pa.table({"text": ["one document"]}), folder / "a.parquet")
    env = {k: v for k, v in _ray_env().items() if k != "RAY_USAGE_STATS_ENABLED"}
    env["RAY_USAGE_STATS_CONFIG_PATH"] = str(tmp_path / "no-config.json")
    temp_dir = tempfile.mkdtemp(prefix="rayu-", dir="/tmp")  # short: unix socket paths stay below 108 bytes
    gcs = _free_port()
    head = subprocess.Popen(["ray", "start", "--head", "--block", f"--port={gcs}", "--include-dashboard=false",
                             f"--temp-dir={temp_dir}", *_agent_ports()], env=env, cwd=ROOT, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: _port_open(gcs) or head.poll() is not None, 120, "the head's GCS port")
        data = recipe_dict(f"{folder}/a.parquet", str(tmp_path / "out"), steps=[{"normalize_text": {}}])
        data["executor"] = {"type": "ray", "address": f"127.0.0.1:{gcs}", "workers": 1}
        proc = subprocess.run([sys.executable, "-m", "pipeline.cli", "run", str(write_recipe(tmp_path / "r.yaml", data)),
                               "--quiet"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    finally:
        head.terminate()  # SIGTERM to `ray start --block` stops exactly this node's processes
        head.wait(60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"the Ray cluster at 127.0.0.1:{gcs} sends usage statistics" in proc.stderr
