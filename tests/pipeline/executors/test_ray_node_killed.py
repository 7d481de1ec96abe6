"""A worker node lost mid-task on Ray (issue 14): every path of the recipe (input, output and its
work folder) on the real S3 server, a third node added to the test cluster for this test and
killed with SIGKILL (raylet, workers, agents: a machine that dies) while it runs a task. The run
completes on the surviving nodes with the output of an uninterrupted run."""

from __future__ import annotations

import contextlib
import re
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.errors import TaskFailed
from pipeline.executors.ray import RayBackend
from pipeline.recipe import validate_recipe
from pipeline.runner import run_recipe
from storage.location import Location
from tests.core_helpers import recipe_dict, write_parquet_shards
from tests.pipeline.executors.ray_cluster import ExtraNode, RayCluster, add_worker_node

SHARDS, ROWS = 4, 150


def steps(seconds: float) -> list[dict]:
    return [
        {"normalize_text": {}},
        {"tests.custom_ops:SlowMapper": {"seconds": seconds}},  # a task lasts a few seconds: time to kill it
        {"words_filter": {"min_words": 10}},
        {"exact_dedup": {"partitions": 2}},
        {"text_length_filter": {"max_chars": 600}},
    ]


def running_on(node: ExtraNode, address: str) -> list[str]:
    """Names of the pipeline's tasks Ray reports running on the node."""
    from ray.util.state import list_tasks

    tasks = list_tasks(address, filters=[("state", "=", "RUNNING"), ("node_id", "=", node.node_id)], timeout=10,
                       raise_on_missing_output=False)
    return [t.name for t in tasks if t.name.startswith("shard ")]


class NodeKiller(threading.Thread):
    """Kills the node once Ray reports one of the run's tasks running there (not after a guessed
    delay: the kill must land mid-task)."""

    def __init__(self, node: ExtraNode, address: str, stop: threading.Event):
        super().__init__(daemon=True)
        self.node, self.address, self.stop = node, address, stop
        self.killed_during: list[str] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                if names := running_on(self.node, self.address):
                    self.node.kill()
                    self.killed_during = names
                    return
                time.sleep(0.1)
        except BaseException as exc:  # noqa: BLE001 - handed to the test's thread, which raises it
            self.error = exc


def assert_redone_elsewhere(node: ExtraNode, address: str) -> None:
    """Ray's own record: the attempt on the killed node failed with NODE_DIED (it was cut mid-task,
    nothing of it finished there) and a later attempt of the same task finished on another node.
    Task events reach the state API within about a second: look a few times."""
    from ray.util.state import list_tasks

    deadline = time.monotonic() + 20
    while True:
        there = list_tasks(address, filters=[("node_id", "=", node.node_id)], detail=True,
                           raise_on_missing_output=False)
        killed = [t for t in there if t.name.startswith("shard ")]
        redone = {t.task_id: [(a.attempt_number, a.state, a.node_id) for a in list_tasks(
            address, filters=[("task_id", "=", t.task_id)], detail=True, raise_on_missing_output=False)]
            for t in killed}
        ok = killed and all(t.state == "FAILED" and t.error_type == "NODE_DIED" for t in killed) and all(
            any(n > 0 and state == "FINISHED" and where != node.node_id for n, state, where in attempts)
            for attempts in redone.values())
        if ok:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"tasks on the killed node: {[(t.task_id, t.state, t.error_type) for t in killed]}; "
                                 f"their attempts: {redone}")
        time.sleep(0.5)


def kept_bytes(out: Location) -> dict[str, bytes]:
    return {n: (out / n).read_bytes() for n in out.list_names() if n.endswith(".parquet")}


def rejected_bytes(out: Location) -> dict[str, bytes]:
    return {f"{step}/{name}": (out / "rejected" / step / name).read_bytes()
            for step in (out / "rejected").list_names() for name in (out / "rejected" / step).list_names()}


def upload_input(base: Location, folder: Path) -> None:
    for path in write_parquet_shards(folder, SHARDS, ROWS):
        (base / "in" / path.name).write_bytes(path.read_bytes())


def s3_input(s3_server, tmp_path: Path) -> tuple[dict, Location]:
    """The test server's options and a new prefix holding the input shards under `in/`."""
    opts = s3_server.storage_options
    base = Location(f"s3://{s3_server.new_prefix()}", opts)
    upload_input(base, tmp_path / "in")
    return opts, base


def remote_recipe(base: Location, cluster: RayCluster, options: dict) -> dict:
    data = recipe_dict(f"{base}/in/*.parquet", f"{base}/out", steps(0.5))
    data["input"]["batch_size"] = 25  # 6 batches of 0.5 s: a shard task lasts 3 s
    data["input"]["rows_per_task"] = 0  # a task a file (small files would share one): tasks to spread over nodes
    data["storage_options"] = options
    data["executor"] = {"type": "ray", "address": cluster.address, "workers": 3}
    return data


@contextlib.contextmanager
def node_killed_mid_task(cluster: RayCluster) -> Iterator[NodeKiller]:
    """A node added for the block, killed once a task of the run is running on it."""
    node = add_worker_node(cluster, f"doomed-{uuid.uuid4().hex[:6]}")
    stop = threading.Event()
    killer = NodeKiller(node, cluster.address, stop)
    try:
        killer.start()
        yield killer
    finally:
        stop.set()
        killer.join(30)
        node.kill()
    assert killer.error is None, killer.error
    assert killer.killed_during, "no task ran on the added node: it was never killed mid-task"


@pytest.mark.timeout(300)
def test_a_worker_node_killed_mid_task_is_retried_elsewhere_with_no_loss_and_no_duplicates(
        ray_cluster: RayCluster, s3_server, tmp_path: Path) -> None:
    opts, base = s3_input(s3_server, tmp_path)
    local = recipe_dict(f"{tmp_path}/in/*.parquet", str(tmp_path / "reference"), steps(0.0))
    local["input"]["batch_size"] = 25
    expected = run_recipe(validate_recipe(local))

    with node_killed_mid_task(ray_cluster) as killer:
        result = run_recipe(validate_recipe(remote_recipe(base, ray_cluster, opts)))
    (name,) = killer.killed_during  # Ray shows the pipeline's name of the task
    assert re.fullmatch(rf"shard {re.escape(str(base))}/in/part-00\d\.parquet", name), name
    assert_redone_elsewhere(killer.node, ray_cluster.address)

    out = base / "out"
    reference = Location(tmp_path / "reference")
    assert kept_bytes(out) == kept_bytes(reference) and len(kept_bytes(out)) == SHARDS
    assert rejected_bytes(out) == rejected_bytes(reference)
    stats = (out / "stats.json").read_json()
    assert stats["accounting"] == expected.stats["accounting"]
    assert stats["input"]["documents"] == SHARDS * ROWS == result.kept + stats["removed"]
    ids = [i for n in kept_bytes(out) for i in (out / n).read_table(columns=["id"]).column("id").to_pylist()]
    assert len(ids) == len(set(ids)) == result.kept
    # nothing but the finished output: no work data, no temporaries, no part of the killed task
    assert out.walk() == reference.walk()


@pytest.mark.timeout(300)
def test_a_node_lost_with_no_retries_left_fails_naming_the_task_and_a_rerun_completes(
        ray_cluster: RayCluster, s3_server, tmp_path: Path) -> None:
    opts, base = s3_input(s3_server, tmp_path)
    recipe = validate_recipe(remote_recipe(base, ray_cluster, opts))
    backend = RayBackend(address=ray_cluster.address, workers=3, progress=False, max_retries=0)
    with pytest.raises(TaskFailed) as failed, node_killed_mid_task(ray_cluster) as killer:
        run_recipe(recipe, backend=backend)
    message = str(failed.value)
    shard = re.search(r"shard (\S+) ", message)
    assert shard and shard.group(1).startswith(f"{base}/in/part-00"), message
    assert "the node running it was lost" in message and "rerun the same command to resume" in message, message
    assert "\n" not in message and opts["secret"] not in message, message
    assert killer.killed_during

    again = run_recipe(recipe)  # the default retries; nothing killed now
    assert again.stats["input"]["documents"] == SHARDS * ROWS == again.kept + again.stats["removed"]
