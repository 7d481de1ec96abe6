"""Ray without a shared disk (issue 14): a 2-node cluster whose nodes have their own working,
temp and cache folders, with every path of the recipe (input, output, work files, a model) on
the real S3 server. The output equals the local executor's on local disk, and no node writes
into its working folder; a node fetches the model at most once, into its own cache."""

from __future__ import annotations

from pathlib import Path

from operators.quality.language import bundled_model_path
from pipeline.recipe import validate_recipe
from pipeline.runner import run_recipe
from storage.location import Location
from tests.core_helpers import recipe_dict, write_parquet_shards
from tests.pipeline.executors.ray_cluster import RayCluster

STEPS = [
    {"normalize_text": {}},
    {"language_filter": {"languages": ["en"], "min_score": 0.0, "model_path": "MODEL"}},
    {"words_filter": {"min_words": 10}},
    {"exact_dedup": {"partitions": 4}},
    {"text_length_filter": {"max_chars": 600}},
]


def _steps(model: str) -> list[dict]:
    return [{k: ({**v, "model_path": model} if "model_path" in v else v)} for s in STEPS for k, v in s.items()]


def _kept(out: Location) -> dict[str, list]:
    names = [n for n in out.list_names() if n.endswith(".parquet")]
    return {n: (out / n).read_table().to_pylist() for n in names}


def _rejected(out: Location) -> list[tuple[str, str]]:
    rows = []
    for step in (out / "rejected").list_names():
        for name in (out / "rejected" / step).list_names():
            table = (out / "rejected" / step / name).read_table(columns=["id", "operator", "reason"])
            rows += [(r["operator"], r["id"], r["reason"]) for r in table.to_pylist()]
    return sorted(rows)


def test_every_path_on_s3_with_nodes_that_share_no_disk(ray_cluster: RayCluster, s3_server, tmp_path: Path) -> None:
    opts = s3_server.storage_options
    base = Location(f"s3://{s3_server.new_prefix()}", opts)
    local_in = tmp_path / "in"
    for path in write_parquet_shards(local_in, 4, 150):
        (base / "in" / path.name).write_bytes(path.read_bytes())
    (base / "models" / "lid.176.ftz").write_bytes(bundled_model_path().read_bytes())
    before = {node: sorted(p.name for p in folder.iterdir()) for node, folder in ray_cluster.node_dirs.items()}

    remote = recipe_dict(f"{base}/in/*.parquet", f"{base}/out", _steps(f"{base}/models/lid.176.ftz"))
    remote["storage_options"] = opts
    remote["input"]["rows_per_task"] = 60  # each 150-row shard is 3 tasks, joined by tasks on the cluster
    remote["executor"] = {"type": "ray", "address": ray_cluster.address, "workers": 2}
    result = run_recipe(validate_recipe(remote))

    local = recipe_dict(f"{local_in}/*.parquet", str(tmp_path / "local"), _steps(str(bundled_model_path())))
    expected = run_recipe(validate_recipe(local))
    out = base / "out"
    assert _kept(out) == _kept(Location(tmp_path / "local")) and _kept(out)
    assert _rejected(out) == _rejected(Location(tmp_path / "local"))
    assert result.stats["accounting"] == expected.stats["accounting"]
    assert result.stats["input"]["documents"] == 600 == result.kept + result.stats["removed"]
    # nothing of the run on the nodes' own disks but the per-node model copy
    after = {node: sorted(p.name for p in folder.iterdir()) for node, folder in ray_cluster.node_dirs.items()}
    assert {node: [n for n in names if n != "cache"] for node, names in after.items()} == {
        node: [n for n in names if n != "cache"] for node, names in before.items()}
    copies = {node: list((folder / "cache").rglob("lid.176.ftz")) for node, folder in ray_cluster.node_dirs.items()}
    assert all(len(c) <= 1 for c in copies.values()) and any(copies.values()), copies  # once per node at most
    assert all(c.read_bytes() == bundled_model_path().read_bytes() for found in copies.values() for c in found)
