"""Small files grouped into tasks on the Ray executor (a real two-node cluster): fewer Ray tasks,
the per-shard stage grouped too, a big file's pieces joined by join tasks, and the output files
byte for byte those of the local executor with one task a file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.executors.ray import RayBackend
from pipeline.recipe import validate_recipe
from pipeline.runner import run_recipe
from tests.core_helpers import stats
from tests.pipeline.executors.ray_cluster import RayCluster
from tests.pipeline.test_group_files import FILES, ROWS_PER_TASK, files_run, recipe, write_inputs
from tests.pipeline.test_split_input import counts, output_files


class CountingRay(RayBackend):
    """The Ray executor, recording the tasks each `map` was given."""

    def __init__(self, address: str):
        super().__init__(address=address, progress=False)
        self.maps: dict[str, list[Any]] = {}

    def map(self, tasks, label):
        self.maps.setdefault(label, []).extend(tasks)
        return super().map(tasks, label)


def test_grouped_on_ray_same_bytes_as_one_task_a_file_locally(ray_cluster: RayCluster, tmp_path: Path) -> None:
    write_inputs(tmp_path / "in")
    run_recipe(validate_recipe(recipe(tmp_path, tmp_path / "local", 0, 1)))
    data = recipe(tmp_path, tmp_path / "ray", ROWS_PER_TASK, 1)
    data["executor"] = {"type": "ray", "address": ray_cluster.address}
    backend = CountingRay(ray_cluster.address)
    try:
        run_recipe(validate_recipe(data), backend=backend)
    finally:
        backend.close()
    expected = output_files(tmp_path / "local")
    assert sorted(output_files(tmp_path / "ray")) == sorted(expected)
    for name, data_bytes in output_files(tmp_path / "ray").items():
        assert data_bytes == expected[name], name
    assert counts(tmp_path / "ray") == counts(tmp_path / "local")
    assert stats(tmp_path / "ray")["input"]["files"] == FILES + 1
    seg0 = backend.maps["normalize_text … words_filter"]
    assert len(seg0) <= 20 and len(set(files_run(seg0))) == FILES + 1  # 61 files in at most 20 Ray tasks
    assert len(backend.maps["exact_dedup:hash"]) <= 20
    assert [t.name for t in backend.maps["normalize_text … words_filter: joining pieces"]] == [
        f"joining {tmp_path}/in/f029b.parquet"]  # the big file, cut into pieces, joined by a task
