"""stats.json is built from the completion marks; those this run's tasks wrote come from the
results the tasks returned (the same content) instead of being read back: on an object store a
fresh run reads no mark, and a rerun that reads them all builds the same accounting."""

from __future__ import annotations

from pipeline.recipe import validate_recipe
from pipeline.runner import run_recipe
from storage import files
from tests.core_helpers import recipe_dict
from tests.pipeline.test_split_input import write_inputs

STEPS = [{"normalize_text": {}}, {"exact_dedup": {"partitions": 3}}, {"words_filter": {"min_words": 5}}]


def without_times(stats: dict) -> dict:
    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in ("wall_seconds",)}
        return [strip(v) for v in value] if isinstance(value, list) else value

    return strip(stats)


def test_a_fresh_run_on_a_store_reads_no_mark_back_and_a_rerun_agrees(s3_server, tmp_path) -> None:
    import fsspec.asyn

    write_inputs(tmp_path / "in")
    options = s3_server.storage_options
    url = f"s3://{s3_server.new_prefix()}/out"
    data = recipe_dict(f"{tmp_path}/in/*", url, steps=STEPS, workers=1)  # tasks in this process: requests seen
    data["storage_options"] = options
    fs, _ = files.filesystem(url, options)
    fsspec.asyn.sync(fs.loop, fs.set_session)
    got: list[str] = []
    fs.s3.meta.events.register("before-call.s3.GetObject", lambda params, **_: got.append(params["url_path"]))
    first = run_recipe(validate_recipe(data), fresh=True).stats
    assert not [k for k in got if "/_done/" in k], "marks this run wrote were read back"
    got.clear()
    again = run_recipe(validate_recipe(data)).stats  # nothing left to run: every mark is read
    assert [k for k in got if "/_done/" in k]
    assert without_times(again) == without_times(first)
    assert first["accounting"].startswith(f"{first['input']['documents']} in")
