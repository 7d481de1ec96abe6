"""A big uncompressed JSONL file on an object store runs as several tasks: its lines are counted by
tasks (one per byte range), not by the driver, and the output is byte for byte that of one task
reading the whole file (ids and quarantined rows numbered in the whole file)."""

from __future__ import annotations

import json
from pathlib import Path

import fsspec

from pipeline.executors.local import LocalBackend
from pipeline.recipe import validate_recipe
from pipeline.runner import run_recipe
from tests.core_helpers import make_docs, read_quarantine, recipe_dict
from tests.pipeline.test_split_input import counts, output_files

STEPS = [{"normalize_text": {}}, {"words_filter": {"min_words": 10}}, {"exact_dedup": {"partitions": 3}}]


class Recording(LocalBackend):
    """The real local backend, noting what it was asked to run."""

    def __init__(self, workers: int):
        super().__init__(workers=workers, progress=False)
        self.maps: list[tuple[str, list[str]]] = []

    def map(self, tasks, label):
        self.maps.append((label, [t.name for t in tasks]))
        return super().map(tasks, label)


def write_big_jsonl(url: str, options: dict) -> int:
    """~3 MB of JSONL (1,000-byte lines; duplicates, a broken line, a null text, blank lines)."""
    docs = make_docs(3000, seed=3, dup_every=7)
    lines = [json.dumps({"text": (d["text"] + " " + "pad " * 250)[:900]}) for d in docs]
    lines[1500] = '{"text": broken'
    lines[2100] = json.dumps({"text": None})
    lines.insert(700, "")
    with fsspec.open(url, "wb", **options) as handle:
        handle.write(("\n".join(lines) + "\n").encode())
    return len(lines)


def run(url: str, out: Path, rows_per_task: int, options: dict, workers: int = 2) -> Recording:
    data = recipe_dict(url, str(out), steps=STEPS, workers=workers, input={"rows_per_task": rows_per_task})
    data["storage_options"] = options
    backend = Recording(workers)
    try:
        run_recipe(validate_recipe(data), backend=backend)
    finally:
        backend.close()
    return backend


def test_a_remote_jsonl_file_is_counted_by_tasks_and_split(s3_server, tmp_path) -> None:
    options = s3_server.storage_options
    url = f"s3://{s3_server.new_prefix()}/in/big.jsonl"
    lines = write_big_jsonl(url, options)
    whole = run(url, tmp_path / "whole", 0, options)
    split = run(url, tmp_path / "split", 1000, options)
    assert not any(label == "counting JSONL lines" for label, _ in whole.maps)
    counting = [names for label, names in split.maps if label == "counting JSONL lines"]
    assert len(counting) == 1 and len(counting[0]) >= 2  # one counting task per byte range
    first = next(names for label, names in split.maps if label.startswith("normalize_text"))
    assert len(first) >= 2 and all("piece" in n for n in first)  # the file ran as several tasks
    assert output_files(tmp_path / "split") == output_files(tmp_path / "whole")
    assert counts(tmp_path / "split") == counts(tmp_path / "whole")
    assert counts(tmp_path / "split")["input"]["documents"] == lines - 1  # the blank line is no record
    bad = sorted((r["row"], r["reason"]) for r in read_quarantine(tmp_path / "split"))
    assert bad == [(1502, "invalid_json"), (2102, "null_text")]  # file line numbers (a blank line before)
    again = run(url, tmp_path / "split", 1000, options)  # resumed: nothing to count or run again
    assert [label for label, names in again.maps if names] == []


def test_a_resumed_run_does_not_count_again(s3_server, tmp_path) -> None:
    """A run killed after its counting tasks: the counts kept under _work/ are used, not redone."""
    from pipeline.io.shards import list_shards
    from pipeline.line_pieces import plan_remote_jsonl
    from pipeline.output_folder import prepare_output
    from pipeline.plan import plan_segments
    from pipeline.recipe import storage_defaults

    options = s3_server.storage_options
    url = f"s3://{s3_server.new_prefix()}/in/big.jsonl"
    write_big_jsonl(url, options)
    data = recipe_dict(url, str(tmp_path / "out"), steps=STEPS, workers=2, input={"rows_per_task": 1000})
    data["storage_options"] = options
    recipe = validate_recipe(data)
    first = Recording(2)
    try:  # what the killed run did: plan the file (its counts are kept), nothing else
        with storage_defaults(recipe):
            shards = list_shards(recipe.input)
            layout, lock = prepare_output(recipe, shards, False)  # the manifest a run writes first
            try:
                plans = plan_remote_jsonl(layout, recipe, plan_segments(recipe.build_steps())[0], shards, first)
            finally:
                lock.release()
    finally:
        first.close()
    assert plans["big"].pieces is not None and [label for label, _ in first.maps] == ["counting JSONL lines"]
    again = run(url, tmp_path / "out", 1000, options)
    assert not any(label == "counting JSONL lines" for label, _ in again.maps)
    run(url, tmp_path / "whole", 0, options)
    assert output_files(tmp_path / "out") == output_files(tmp_path / "whole")
