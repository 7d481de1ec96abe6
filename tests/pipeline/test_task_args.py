"""Task arguments do not carry the run's file list (issue 14): the shard list is written once
under `_work/` (pipeline/shard_list.py) and tasks carry only where it is and its hash, so what the
driver pickles per task does not grow with the input files; a worker reads the list once, checks
it against the hash, and a later run with other files in the same folder gets its own list."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from pipeline.executors.base import Backend, Task
from pipeline.io.readers import Shard, list_shards
from pipeline.plan import Layout
from pipeline.recipe import validate_recipe
from pipeline.runner import run_recipe
from pipeline.shard_list import ShardListRef, load_shard_names, load_shards, write_shard_list
from storage.location import Location
from tests.core_helpers import recipe_dict, write_parquet_shards

# a task's pickle holds the recipe, a segment, its shard and paths: a few KB, whatever the files
SMALL_TASK_BYTES = 8_000


class FirstMap(Exception):
    pass


class PicklingBackend(Backend):
    """Pickles each task of the first map, as a process pool or Ray does to submit it, then ends
    the run (what is measured is what the driver sends)."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.args: list[Any] = []

    def map(self, tasks: list[Task], label: str) -> list[dict[str, Any]]:
        for task in tasks:
            self.sizes.append(len(pickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL)))
            self.args.append(task.arg)
        raise FirstMap(label)


def tiny_files(folder: Path, n: int) -> Path:
    folder.mkdir()
    for i in range(n):
        (folder / f"file-with-a-long-enough-name-{i:05d}.jsonl").write_text(f'{{"id": "d{i}", "text": "doc {i}"}}\n')
    return folder


def first_map(inputs: Path, out: Path, steps: list[Any], listed: bool = False) -> PicklingBackend:
    path: str | list[str] = sorted(str(p) for p in inputs.glob("*.jsonl")) if listed else str(inputs / "*.jsonl")
    recipe = validate_recipe(recipe_dict(path, str(out), steps, input={"rows_per_task": 0}))
    backend = PicklingBackend()
    with pytest.raises(FirstMap):
        run_recipe(recipe, backend=backend)
    return backend


@pytest.mark.parametrize("listed", [False, True], ids=["a glob", "input.path listing every file"])
@pytest.mark.parametrize("steps, kind", [([{"normalize_text": {}}, {"exact_dedup": {}}], "ShardTask"),
                                         ([{"exact_dedup": {}}, {"normalize_text": {}}], "StageTask")])
def test_pickled_task_does_not_grow_with_the_input_files(tmp_path, steps, kind, listed):
    few = first_map(tiny_files(tmp_path / "few", 5), tmp_path / "out_few", steps, listed)
    many = first_map(tiny_files(tmp_path / "many", 2000), tmp_path / "out_many", steps, listed)
    assert type(few.args[0]).__name__ == kind and len(few.sizes) == 5 and len(many.sizes) == 2000
    assert max(many.sizes) < SMALL_TASK_BYTES
    # the same task (the first file) of both runs: only the paths' folder names differ ("few", "many")
    assert abs(many.sizes[0] - few.sizes[0]) < 64, (few.sizes[0], many.sizes[0])


def test_workers_read_the_list_written_once(tmp_path):
    shards = list_shards(validate_recipe(recipe_dict(str(tiny_files(tmp_path / "in", 7) / "*.jsonl"),
                                                     str(tmp_path / "out"))).input)
    layout = Layout(Location(tmp_path / "out"))
    ref = write_shard_list(layout, shards)
    place = ref.location(layout)
    assert place.path.parent == tmp_path / "out" / "_work" and ref.count == 7
    written = place.path.stat().st_mtime_ns
    assert write_shard_list(layout, shards) == ref and place.path.stat().st_mtime_ns == written  # write-once
    # a process that has not seen it (a fresh ref object; the cache keyed by place and hash)
    import pipeline.shard_list as shard_list

    shard_list._cache.clear()
    assert load_shards(ref, layout) == shards
    assert [s.size for s in load_shards(ref, layout)] == [s.size for s in shards]
    assert load_shard_names(ref, layout) == [s.name for s in shards]
    # another run's list in the same folder: another hash, another file, never the first list
    other = shards[:3] + [Shard(3, str(tmp_path / "x.jsonl"), "x", 1)]
    ref2 = write_shard_list(layout, other)
    assert ref2.digest != ref.digest and ref2.location(layout) != place
    shard_list._cache.clear()
    assert load_shard_names(ref2, layout) == [s.name for s in other]
    assert load_shard_names(ref, layout) == [s.name for s in shards]


def test_a_list_changed_on_disk_is_refused(tmp_path):
    layout = Layout(Location(tmp_path / "out"))
    shards = [Shard(0, "/data/a.jsonl", "a", 10), Shard(1, "/data/b.jsonl", "b", 12)]
    ref = write_shard_list(layout, shards)
    place = ref.location(layout).path
    place.write_bytes(place.read_bytes().replace(b'"b"', b'"c"'))
    import pipeline.shard_list as shard_list

    shard_list._cache.clear()
    with pytest.raises(RuntimeError, match="does not match its hash"):
        load_shards(ref, layout)
    assert ShardListRef(ref.digest, 2) == ref


def test_a_later_run_with_other_files_in_the_same_process(tmp_path):
    """Two runs in one process (one worker: tasks run in the driver, whose cache holds the first
    run's list), the second with other files and `--fresh` in the same folder: its dedup sees its
    own files (a stale list would give it the first run's count of shards)."""
    steps = [{"exact_dedup": {"partitions": 2}}]
    first = tiny_files(tmp_path / "first", 3)
    second = tmp_path / "second"
    second.mkdir()
    for i in range(6):  # each document twice, in different files
        (second / f"s{i}.jsonl").write_text(f'{{"id": "e{i}", "text": "same {i % 3}"}}\n')
    out = tmp_path / "out"
    run_recipe(validate_recipe(recipe_dict(str(first / "*.jsonl"), str(out), steps)))
    result = run_recipe(validate_recipe(recipe_dict(str(second / "*.jsonl"), str(out), steps)), fresh=True)
    assert result.kept == 3
    kept = sorted(r["id"] for f in sorted(out.glob("s*.parquet")) for r in pq.read_table(f).to_pylist())
    assert kept == ["e0", "e1", "e2"]
    assert list((out / "_work").glob("shards-*.json")) == []  # deleted with the work data after each run


def test_stats_say_files_and_the_tasks_the_executor_ran(tmp_path):
    """stats.json `tasks`: per segment and stage, the files done and the tasks the executor ran
    (small files grouped: one task for many files), the same in a rerun."""
    inputs = tiny_files(tmp_path / "in", 12)
    steps = [{"exact_dedup": {"partitions": 2}}, {"normalize_text": {}}]

    def summary(out: Path, fresh: bool = False, **input_spec: Any) -> dict[str, dict[str, Any]]:
        recipe = validate_recipe(recipe_dict(str(inputs / "*.jsonl"), str(out), steps, input=input_spec))
        return {t["label"]: t for t in run_recipe(recipe, fresh=fresh).stats["tasks"]}

    grouped = summary(tmp_path / "grouped")  # the default rows_per_task: the 12 files share a task
    assert [(t["files"], t["executor_tasks"]) for t in grouped.values()] == [(12, 1), (None, 2), (None, 1), (12, 1)]
    assert list(grouped) == ["exact_dedup:hash", "exact_dedup:find_duplicates", "exact_dedup:save_index",
                             "segment 0: exact_dedup normalize_text"]
    assert [t["tasks"] for t in grouped.values()] == [12, 2, 1, 12]  # the marks, as before
    per_file = summary(tmp_path / "per_file", rows_per_task=0)
    assert [(t["files"], t["executor_tasks"]) for t in per_file.values()] == [(12, 12), (None, 2), (None, 1), (12, 12)]
    rerun = summary(tmp_path / "grouped")  # everything done: the same figures, from the marks
    assert [(t["files"], t["executor_tasks"]) for t in rerun.values()] == [(12, 1), (None, 2), (None, 1), (12, 1)]


def test_stats_count_a_big_files_pieces_as_executor_tasks(tmp_path):
    write_parquet_shards(tmp_path / "in", 3, 120)  # row groups of 40 rows
    data = recipe_dict(f"{tmp_path}/in/*.parquet", str(tmp_path / "out"), [{"words_filter": {"min_words": 3}}],
                       input={"rows_per_task": 40})  # every file: 3 pieces
    (segment,) = run_recipe(validate_recipe(data)).stats["tasks"]
    assert (segment["tasks"], segment["files"], segment["executor_tasks"]) == (3, 3, 9)


def test_the_recipe_tasks_carry_keeps_one_input_path_per_scheme():
    # workers apply the recipe's storage options by URL scheme (pipeline/worker.py): those must stay
    import json

    from pipeline.recipe import Recipe
    from pipeline.runner import _recipe_for_workers

    paths = [f"s3://bucket/part-{i}.parquet" for i in range(500)] + ["/data/local.parquet", "gs://other/x.jsonl"]
    recipe = Recipe.model_validate({"input": {"path": paths}, "output": {"path": "s3://bucket/out"},
                                    "storage_options": {"anon": False}})
    sent = Recipe.model_validate(json.loads(_recipe_for_workers(recipe)))
    assert sent.input.path == ["s3://bucket/part-0.parquet", "/data/local.parquet", "gs://other/x.jsonl"]
    assert sent.storage_protocols() == recipe.storage_protocols() == {"s3", "gs"}
    assert sent.model_copy(update={"input": recipe.input}) == recipe  # nothing else changed
