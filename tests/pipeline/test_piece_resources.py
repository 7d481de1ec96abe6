"""A file run as several tasks (pieces) has, in its completion mark and in stats.json's task
summary, what its pieces cost (CPU, peak memory, bytes), as a file run as one task has."""

from __future__ import annotations

import json

from pipeline.pieces import merge_resources
from pipeline.recipe import load_recipe
from pipeline.runner import run_recipe
from tests.core_helpers import recipe_dict, stats, write_parquet_shards, write_recipe


def test_split_files_report_their_pieces_cost(tmp_path):
    shards = write_parquet_shards(tmp_path / "in", 3, 120)  # row groups of 40 rows
    out = tmp_path / "out"
    data = recipe_dict(f"{tmp_path}/in/*.parquet", str(out), steps=[{"words_filter": {"min_words": 3}}], workers=2)
    data["input"]["rows_per_task"] = 40  # every file: 3 pieces
    run_recipe(load_recipe(write_recipe(tmp_path / "r.yaml", data)))
    marks = [json.loads(p.read_text()) for p in sorted((out / "_work" / "seg0" / "_done").glob("*.json"))]
    assert [m["pieces"] for m in marks] == [3, 3, 3]
    assert all(m["resources"]["cpu_seconds"] > 0 and m["resources"]["read_bytes"] > 0 for m in marks)
    summary = stats(out)
    (task,) = summary["tasks"]
    assert task["tasks"] == 3 and task["cpu_seconds"] > 0
    assert task["read_bytes"] >= sum(p.stat().st_size for p in shards)
    assert task["write_bytes"] > 0 and task["peak_rss_bytes"] > 20_000_000
    assert 0 <= task["peak_growth_bytes"] < task["peak_rss_bytes"]


def test_merged_resources_sum_costs_and_keep_the_largest_peak_and_growth():
    a = {"cpu_seconds": 1.5, "peak_rss_bytes": 900, "peak_rss_per_task": True, "start_rss_bytes": 850,
         "read_bytes": 10, "write_bytes": 1}
    b = {"cpu_seconds": 0.25, "peak_rss_bytes": 700, "peak_rss_per_task": True, "start_rss_bytes": 400,
         "read_bytes": 5, "write_bytes": 2}
    merged = merge_resources([a, b])
    assert merged == {"cpu_seconds": 1.75, "peak_rss_bytes": 900, "peak_rss_per_task": True,
                      "start_rss_bytes": 600, "read_bytes": 15, "write_bytes": 3}
    assert merge_resources([]) is None
    assert merge_resources([a, {**b, "peak_rss_per_task": False}])["peak_rss_per_task"] is False


def test_a_join_task_run_again_after_it_finished_returns_its_mark(tmp_path):
    """Ray retries a task whose node died after the task's work was done (its mark written, its
    pieces being deleted, its result not yet returned): the retry must not fail for lack of pieces."""
    from pipeline.io.readers import list_shards
    from pipeline.pieces import JoinTask, plan_segment, run_join_task
    from pipeline.plan import Layout, plan_segments
    from storage.location import Location

    write_parquet_shards(tmp_path / "in", 1, 120)
    out = tmp_path / "out"
    data = recipe_dict(f"{tmp_path}/in/*.parquet", str(out), steps=[{"words_filter": {"min_words": 3}}])
    data["input"]["rows_per_task"] = 40
    recipe = load_recipe(write_recipe(tmp_path / "r.yaml", data))
    shards = list_shards(recipe.input)
    (seg,) = plan_segments(recipe.build_steps())
    layout = Layout(Location(out))
    pieces = plan_segment(layout, recipe, seg, shards)[shards[0].name].pieces
    assert pieces is not None and len(pieces) == 3
    run_recipe(recipe)
    mark = json.loads((out / "_work" / "seg0" / "_done" / "part-000.json").read_text())
    kept = (out / "part-000.parquet").read_bytes()
    again = run_join_task(JoinTask(recipe.model_dump_json(), str(out), seg, shards[0], pieces))
    assert again == mark and (out / "part-000.parquet").read_bytes() == kept
