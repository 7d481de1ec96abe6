"""Per-task CPU, peak memory and bytes (pipeline/task_metrics.py) and their summary in stats.json."""

from __future__ import annotations

import time

import numpy as np

from pipeline.recipe import load_recipe
from pipeline.runner import run_recipe
from pipeline.task_metrics import TaskMeter
from tests.core_helpers import recipe_dict, stats, write_parquet_shards, write_recipe


def test_meter_counts_cpu_bytes_and_a_peak_reset_per_task(tmp_path):
    meter = TaskMeter()
    big = np.ones(300_000_000, dtype=np.uint8)  # 300 MB touched
    (tmp_path / "f").write_bytes(big[:5_000_000].tobytes())
    end = time.process_time() + 0.2
    while time.process_time() < end:
        pass
    first = meter.read()
    del big
    second = TaskMeter().read()  # a later task in the same process
    assert first["cpu_seconds"] >= 0.15
    assert first["write_bytes"] >= 5_000_000
    assert first["peak_rss_bytes"] >= 300_000_000
    assert first["peak_rss_per_task"] and second["peak_rss_bytes"] < first["peak_rss_bytes"] - 200_000_000
    assert first["peak_rss_bytes"] - first["start_rss_bytes"] >= 290_000_000
    assert second["peak_rss_bytes"] - second["start_rss_bytes"] < 50_000_000


def test_stats_json_has_per_stage_task_figures(tmp_path):
    shards = write_parquet_shards(tmp_path / "in", 4, 120)
    out = tmp_path / "out"
    steps = [{"words_filter": {"min_words": 3}}, {"exact_dedup": {"partitions": 3}}, {"words_filter": {"min_words": 5}}]
    data = recipe_dict(f"{tmp_path}/in/*.parquet", str(out), steps=steps, workers=2,
                       output={"keep_intermediate": True})
    run_recipe(load_recipe(write_recipe(tmp_path / "r.yaml", data)))
    tasks = {t["label"]: t for t in stats(out)["tasks"]}
    assert list(tasks) == ["segment 0: words_filter", "exact_dedup:hash", "exact_dedup:find_duplicates",
                           "exact_dedup:save_index", "segment 1: exact_dedup words_filter"]
    assert [t["tasks"] for t in tasks.values()] == [4, 4, 3, 1, 4]
    seg0 = tasks["segment 0: words_filter"]
    assert seg0["read_bytes"] >= sum(p.stat().st_size for p in shards)
    assert seg0["write_bytes"] >= sum(p.stat().st_size for p in (out / "_work" / "seg0").glob("*.parquet"))
    assert all(t["cpu_seconds"] > 0 and t["peak_rss_bytes"] > 20_000_000 for t in tasks.values())
    assert all(0 <= t["peak_growth_bytes"] < t["peak_rss_bytes"] for t in tasks.values())


def test_a_global_first_step_has_its_stages_summarized(tmp_path):
    write_parquet_shards(tmp_path / "in", 2, 50)
    out = tmp_path / "out"
    data = recipe_dict(f"{tmp_path}/in/*.parquet", str(out), steps=[{"exact_dedup": {"partitions": 2}}])
    run_recipe(load_recipe(write_recipe(tmp_path / "r.yaml", data)))
    tasks = [(t["label"], t["tasks"]) for t in stats(out)["tasks"]]
    assert tasks == [("exact_dedup:hash", 2), ("exact_dedup:find_duplicates", 2), ("exact_dedup:save_index", 1),
                     ("segment 0: exact_dedup", 2)]
