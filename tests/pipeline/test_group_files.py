"""Many small input files grouped into one task (input.rows_per_task, pipeline/groups.py): fewer
tasks run, the output files are byte for byte those of one task a file with 1 or 2 workers, the
accounting is the same, a run killed in the middle of a group redoes only the files without a
completion mark, and a worker that dies in a group is reported naming its file."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.executors.local import LocalBackend
from pipeline.groups import MAX_GROUP_FILES, TaskGroup, plan_groups
from pipeline.recipe import validate_recipe
from pipeline.runner import run_recipe
from tests.conftest import ROOT
from tests.core_helpers import make_docs, recipe_dict, stats, write_recipe
from tests.pipeline.test_resume_kill import kill_when, start
from tests.pipeline.test_split_input import counts, output_files

FILES = 60
ROWS = 10  # records (JSONL: lines) a small file
ROWS_PER_TASK = 40  # small files: at most 20 rows; a group: at most 40
STEPS = [
    {"normalize_text": {}},
    {"words_filter": {"min_words": 10}},
    {"exact_dedup": {"partitions": 3}},
    {"text_length_filter": {"max_chars": 500}},
]


def write_inputs(folder: Path) -> None:
    """60 small files, runs of 5 Parquet then 5 JSONL (one of them gzipped, two with a broken
    and a null line), with duplicates across files; and in the middle one bigger Parquet file,
    cut into pieces, between two groups."""
    folder.mkdir(parents=True)
    docs = make_docs(FILES * ROWS, seed=3, dup_every=6)
    for i in range(FILES):
        rows = docs[i * ROWS:(i + 1) * ROWS]
        if (i // 5) % 2 == 0:
            pq.write_table(pa.Table.from_pylist(rows), folder / f"f{i:03d}.parquet")
            continue
        lines = [json.dumps({"text": d["text"], "id": d["id"]}) for d in rows]
        if i in (16, 38):
            lines[3] = '{"text": broken'
            lines[7] = json.dumps({"text": None, "id": f"null{i}"})
        body = ("\n".join(lines) + "\n").encode()
        if i == 47:
            (folder / f"f{i:03d}.jsonl.gz").write_bytes(gzip.compress(body))
        else:
            (folder / f"f{i:03d}.jsonl").write_bytes(body)
    big = make_docs(100, seed=4, dup_every=3)
    pq.write_table(pa.Table.from_pylist(big), folder / "f029b.parquet", row_group_size=20)


class CountingBackend(LocalBackend):
    """The local executor, recording the tasks each `map` was given."""

    def __init__(self, workers: int):
        super().__init__(workers, progress=False)
        self.maps: dict[str, list[Any]] = {}

    def map(self, tasks, label):
        self.maps.setdefault(label, []).extend(tasks)
        return super().map(tasks, label)


def files_run(tasks: list[Any]) -> list[str]:
    """The shards the tasks ran, a group's in its order."""
    return [t.arg.shard.name for task in tasks for t in (task.arg.tasks if isinstance(task.arg, TaskGroup) else [task])]


def recipe(folder: Path, out: Path, rows_per_task: int, workers: int, steps: list[Any] = STEPS) -> dict[str, Any]:
    return recipe_dict(f"{folder}/in/*", str(out), steps=steps, workers=workers,
                       input={"rows_per_task": rows_per_task, "batch_size": 4, "id_column": "id"})


def run(folder: Path, name: str, rows_per_task: int, workers: int, steps: list[Any] = STEPS,
        ) -> tuple[Path, CountingBackend]:
    backend = CountingBackend(workers)
    try:
        run_recipe(validate_recipe(recipe(folder, folder / name, rows_per_task, workers, steps)), backend=backend)
    finally:
        backend.close()
    return folder / name, backend


@pytest.fixture(scope="module")
def per_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("groups")
    write_inputs(folder / "in")
    out, backend = run(folder, "per_file", 0, 1)
    return folder, out, backend


def test_the_plan_packs_consecutive_small_files():
    rows = [3, 3, 3, 3, None, 2, 5, 5, 5, 0, 0, 11, 4, 4]
    assert plan_groups([str(i) for i in range(len(rows))], rows, 10) == {
        "0": 0, "1": 0, "2": 0,  # 9 rows; a fourth file would make 12
        "5": 2, "6": 2,  # after a file of unknown rows (alone); 5 rows is small (half of 10)
        "7": 3, "8": 3, "9": 3, "10": 3,  # 10 rows; empty files add nothing
        "12": 4, "13": 4}  # 11 rows: alone, and it ends the group before it
    assert plan_groups(["a", "b"], [1, 1], 0) == plan_groups(["a", "b"], [1, 1], None) == {}
    many = plan_groups([str(i) for i in range(MAX_GROUP_FILES * 2 + 5)], [0] * (MAX_GROUP_FILES * 2 + 5), 10)
    assert [list(many.values()).count(g) for g in range(3)] == [MAX_GROUP_FILES, MAX_GROUP_FILES, 5]


@pytest.mark.parametrize("workers", [1, 2])
def test_fewer_tasks_same_bytes_and_accounting_as_one_task_a_file(per_file, workers):
    folder, reference, ref_backend = per_file
    out, backend = run(folder, f"grouped{workers}", ROWS_PER_TASK, workers)
    expected = output_files(reference)
    assert any(n.startswith("rejected/step02_exact_dedup") for n in expected)  # dedup across files decided
    assert any(n.startswith("quarantine/") for n in expected)
    assert sorted(output_files(out)) == sorted(expected)
    for name, data in output_files(out).items():
        assert data == expected[name], name
    assert counts(out) == counts(reference)
    s = stats(out)
    assert s["input"]["files"] == FILES + 1 and len(s["output"]["shards"]) == FILES + 1
    assert s["input"]["documents"] == s["output"]["documents"] + s["removed"]
    # segment 0: 16 groups of at most 4 small files (two cut short, before and after the big
    # file) and the big file's 3 pieces; the per-shard stage and segment 1 are grouped too
    ref_seg0, seg0 = (b.maps["normalize_text … words_filter"] for b in (ref_backend, backend))
    assert len(ref_seg0) == FILES + 1 and len(seg0) <= 20, [t.name for t in seg0]
    assert list(dict.fromkeys(files_run(seg0))) == files_run(ref_seg0)  # every file, in the listing order
    assert len(backend.maps["exact_dedup:hash"]) <= 20 < len(ref_backend.maps["exact_dedup:hash"]) == FILES + 1
    assert len(backend.maps["exact_dedup … text_length_filter"]) <= 20
    assert list(dict.fromkeys(files_run(backend.maps["exact_dedup … text_length_filter"]))) == files_run(ref_seg0)


def test_a_run_killed_in_a_group_redoes_only_the_files_without_a_mark(per_file, tmp_path):
    folder, reference, _ = per_file
    steps = [{"tests.custom_ops:SlowMapper": {"seconds": 0.03}}, *STEPS]
    expected, _ = run(folder, "slow_per_file", 0, 2, steps)
    out = tmp_path / "out"
    data = recipe(folder, out, ROWS_PER_TASK, 2, steps)
    marks = out / "_work" / "seg0" / "_done"
    group0 = [marks / f"f00{i}.json" for i in range(4)]  # the first group's files, run in order
    in_group0 = lambda out, t: 0 < sum(m.exists() for m in group0) < 3  # noqa: E731
    assert kill_when(start(write_recipe(tmp_path / "r.yaml", data)), out, in_group0), "finished before the kill"
    done = {m.name: m.stat().st_mtime_ns for m in marks.glob("*.json")}
    assert 0 < len(done) < FILES and not group0[3].exists()
    backend = CountingBackend(2)
    try:
        run_recipe(validate_recipe(data), backend=backend)
    finally:
        backend.close()
    seg0 = [t for t in backend.maps["slow_mapper … words_filter"] if isinstance(t.arg, TaskGroup) or not t.arg.piece]
    left = set(files_run(seg0)) - {"f029b"}  # the big file's pieces may all be done, its join not
    assert left == {p.name.split(".")[0] for p in (folder / "in").iterdir()} - {m[:-5] for m in done} - {"f029b"}
    assert len(seg0) < len(left)  # the files left still share tasks
    assert {m.name: m.stat().st_mtime_ns for m in marks.glob("*.json") if m.name in done} == done  # not redone
    assert output_files(out) == output_files(expected)
    assert counts(out)["steps"] == counts(expected)["steps"]
    assert stats(out)["accounting"] == stats(reference)["accounting"]


def test_a_worker_dying_in_a_group_is_reported_naming_its_file(per_file, tmp_path):
    """File f006.jsonl (the third of its group f004-f007; index 6 in the listing) keeps killing its
    worker: the run stops naming that file, not the group's others."""
    folder, _, _ = per_file
    killer = {"tests.pipeline.executors.test_local_retry:KillWorker": {"marker": str(tmp_path / "killed"),
                                                                          "times": 4, "shard": 6}}
    data = recipe(folder, tmp_path / "out", ROWS_PER_TASK, 2, [STEPS[0], killer, *STEPS[1:]])
    data["input"]["batch_size"] = 2  # the killer acts on a file's second batch
    proc = subprocess.run([sys.executable, "-m", "pipeline.cli", "run", str(write_recipe(tmp_path / "r.yaml", data)),
                           "--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr
    assert "f006.jsonl" in proc.stderr and "worker process died 4 times" in proc.stderr, proc.stderr
    assert not any(f"f00{i}." in proc.stderr for i in (4, 5, 7)), proc.stderr
    assert (tmp_path / "out" / "_work" / "seg0" / "_done" / "f005.json").exists()


def test_input_and_output_on_a_store(per_file, s3_server):
    """Files on S3 (a real SeaweedFS server): the Parquet footers and, for JSONL, the sizes are read
    there (rows estimated from the size: JSONL is not scanned on a store); the same bytes as one
    task a file on local disk, and the segment after the global step (reading the shards it
    wrote to the store) grouped as on local disk."""
    folder, reference, _ = per_file
    fs = s3_server.filesystem()
    prefix = s3_server.new_prefix()
    fs.put(f"{folder}/in/", f"{prefix}/in/", recursive=True)
    data = recipe(folder, folder / "unused", ROWS_PER_TASK, 2)
    data["input"]["path"] = f"s3://{prefix}/in/*"
    data["output"]["path"] = f"s3://{prefix}/out"
    data["storage_options"] = s3_server.storage_options
    backend = CountingBackend(2)
    try:
        run_recipe(validate_recipe(data), backend=backend)
    finally:
        backend.close()
    written = {k[len(f"{prefix}/out/"):]: fs.cat_file(k) for k in fs.find(f"{prefix}/out") if k.endswith(".parquet")}
    expected = output_files(reference)
    # quarantined rows name their file: an s3:// URL here
    assert sorted(k for k in written if k.split("/")[0] not in ("_work", "artifacts")) == sorted(expected)
    assert {k: v for k, v in written.items() if k.split("/")[0] not in ("_work", "artifacts", "quarantine")} == {
        k: v for k, v in expected.items() if not k.startswith("quarantine/")}
    # JSONL on a store counts a row per 200 bytes (these hold 400-600 bytes a line): fewer share a task
    assert 20 < len(backend.maps["normalize_text … words_filter"]) < FILES
    assert len(backend.maps["exact_dedup … text_length_filter"]) <= 20  # Parquet shards: rows from the footers
