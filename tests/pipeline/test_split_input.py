"""A big input file run as several tasks (input.rows_per_task) gives the same output files,
byte for byte, the same stats and the same dedup decisions as one task a file, with 1 or 2
workers, and resumes after a piece is killed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.io.readers import InputError
from pipeline.recipe import validate_recipe
from pipeline.runner import run_recipe
from tests.core_helpers import make_docs, read_quarantine, recipe_dict, stats, write_recipe
from tests.pipeline.test_resume_kill import kill_when, start

STEPS = [
    {"normalize_text": {}},
    {"words_filter": {"min_words": 10}},
    {"exact_dedup": {"partitions": 3}},
    {"minhash_dedup": {"threshold": 0.7}},
    {"text_length_filter": {"max_chars": 500}},
]


def write_inputs(folder: Path) -> None:
    """A Parquet file of several row groups and a JSONL file with bad lines, blank lines, CRLF and
    no final newline; duplicates within and across the files."""
    folder.mkdir(parents=True)
    docs = make_docs(230, seed=1, dup_every=5)
    pq.write_table(pa.Table.from_pylist(docs), folder / "big.parquet", row_group_size=20)
    lines = [json.dumps({"text": d["text"], "n": d["n"]}) for d in make_docs(150, seed=2, dup_every=4)]
    lines[40] = '{"text": broken'
    lines[41] = json.dumps({"text": docs[100]["text"]})  # a duplicate of the Parquet file's row 100
    lines[77] = json.dumps({"text": None})
    lines.insert(90, "")
    lines.insert(120, "   ")
    body = "\n".join(lines[:60]) + "\n" + "\r\n".join(lines[60:])  # LF, then CRLF, no final newline
    (folder / "lines.jsonl").write_bytes(body.encode())


def run(tmp_path: Path, name: str, rows_per_task: int, workers: int, steps: list[Any] = STEPS) -> Path:
    out = tmp_path / name
    data = recipe_dict(f"{tmp_path}/in/*", str(out), steps=steps, workers=workers,
                       input={"rows_per_task": rows_per_task, "batch_size": 16})
    run_recipe(validate_recipe(data))
    return out


def output_files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.parquet"))
            if p.relative_to(out).parts[0] not in ("_work", "artifacts")}


def counts(out: Path) -> dict[str, Any]:
    """stats.json without times, the output path and the tasks' measured resources (CPU, memory, bytes)."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if "seconds" not in k and k not in ("path", "stages", "recipe_fingerprint", "tasks")}
        return [strip(v) for v in value] if isinstance(value, list) else value

    return strip(stats(out))


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    folder = tmp_path_factory.mktemp("split")
    write_inputs(folder / "in")
    return folder, run(folder, "whole", 0, 1)


@pytest.mark.parametrize(("rows_per_task", "workers"), [(7, 1), (45, 2), (1, 2)])
def test_same_bytes_stats_and_dedup_whatever_the_split_and_workers(whole, rows_per_task, workers):
    folder, reference = whole
    out = run(folder, f"split{rows_per_task}_{workers}", rows_per_task, workers)
    expected = output_files(reference)
    assert sorted(output_files(out)) == sorted(expected)
    assert any(name.startswith("rejected/step02_exact_dedup") for name in expected)  # dedup decided something
    for name, data in output_files(out).items():
        assert data == expected[name], name
    assert counts(out) == counts(reference)
    assert not list((out / "_work").rglob(f"*{'.arrow'}")), "pieces' files are removed once joined"


def test_rows_numbered_in_the_whole_file(whole):
    """Quarantined lines and generated ids carry the file's line numbers, not a piece's."""
    folder, reference = whole
    out = run(folder, "split3_rows", 3, 2)
    rows = sorted((r["row"], r["reason"]) for r in read_quarantine(out))
    assert rows == [(41, "invalid_json"), (78, "null_text")] == sorted((r["row"], r["reason"])
                                                                       for r in read_quarantine(reference))
    ids = [i for f in out.rglob("lines.parquet") if "quarantine" not in f.parts for i in pq.read_table(f, columns=["id"]).column("id").to_pylist()]
    assert len(ids) == 148  # 150 records, 2 quarantined
    assert max(ids, key=lambda i: int(i.split("/")[1])) == "lines/151"  # a blank and a whitespace line before it


def test_several_pieces_are_planned(whole):
    from pipeline.io.pieces import plan_pieces
    from pipeline.io.shards import list_shards

    folder, _ = whole
    spec = validate_recipe(recipe_dict(f"{folder}/in/*", "unused", input={"rows_per_task": 45})).input
    plans = {s.name: plan_pieces(s, spec, 45) for s in list_shards(spec)}
    assert [p.row_groups for p in plans["big"]] == [(0, 3), (3, 6), (6, 9), (9, 12)]
    assert [p.first_row for p in plans["lines"]] == [0, 45, 90, 135]
    assert sum(p.rows for p in plans["lines"]) == 152


def test_duplicate_ids_in_two_pieces_are_refused_as_in_a_whole_read(tmp_path):
    (tmp_path / "in").mkdir()
    docs = make_docs(60, dup_every=0)
    docs[50]["id"] = docs[3]["id"]
    pq.write_table(pa.Table.from_pylist(docs), tmp_path / "in" / "ids.parquet", row_group_size=10)
    messages = []
    for rows_per_task in (0, 10):
        data = recipe_dict(f"{tmp_path}/in/*", str(tmp_path / f"out{rows_per_task}"), steps=[{"normalize_text": {}}],
                           input={"rows_per_task": rows_per_task, "id_column": "id"})
        with pytest.raises(InputError) as err:
            run_recipe(validate_recipe(data))
        messages.append(str(err.value))
    assert messages[0] == messages[1]
    assert "row 50: field 'id': duplicate id" in messages[1]


def test_a_killed_piece_runs_again_and_the_output_is_the_same(whole, tmp_path):
    folder, reference = whole
    steps = [{"tests.custom_ops:SlowMapper": {"seconds": 0.05}}, *STEPS]
    expected = run(folder, "slow_whole", 0, 2, steps)
    out = tmp_path / "out"
    data = recipe_dict(f"{folder}/in/*", str(out), steps=steps, workers=2, input={"rows_per_task": 20, "batch_size": 16})
    recipe = write_recipe(tmp_path / "r.yaml", data)
    pieces_done = lambda out, t: len(list((out / "_work").glob("seg0/_pieces/*/*/_done/*.json"))) >= 3  # noqa: E731
    assert kill_when(start(recipe), out, pieces_done), "the run finished before a piece was done"
    assert not (out / "_work" / "seg0" / "_done").exists() or len(list((out / "_work/seg0/_done").iterdir())) < 2
    proc = start(recipe)
    assert proc.wait(timeout=300) == 0, proc.stderr.read().decode()
    assert output_files(out) == output_files(expected)
    assert counts(out)["steps"] == counts(expected)["steps"]
