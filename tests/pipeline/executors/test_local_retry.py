"""The local executor retries a task whose worker process was killed (SIGKILL, as the OOM killer
does), up to 3 times as the Ray executor does, then fails naming the shard (issue 12, item 17)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import Field

from operators.base import DOC_KEY, SHARD_BITS, Mapper
from pipeline.recipe import validate_recipe
from pipeline.runner import run_recipe
from tests.conftest import ROOT
from tests.core_helpers import read_rejected, recipe_dict, write_parquet_shards, write_recipe


class KillWorker(Mapper):
    """SIGKILLs its own worker process on the second batch of shard `shard`, `times` times in
    all (counted in files `<marker>.N`). `parent` first kills the worker's parent when it is the
    fork server (never the driver: a driver without threads forks its workers itself)."""

    name = "test_kill_worker"
    marker: str
    shard: int = 1
    times: int = Field(1, ge=1)
    parent: bool = False
    driver: int = 0

    def process(self, table: pa.Table) -> pa.Table:
        first = int(table.column(DOC_KEY)[0].as_py()) if table.num_rows else 0
        if first >> SHARD_BITS == self.shard and first & ((1 << SHARD_BITS) - 1) > 0:
            for n in range(self.times):
                try:
                    fd = os.open(f"{self.marker}.{n}", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
                except FileExistsError:
                    continue
                os.close(fd)
                if self.parent and os.getppid() != self.driver:
                    os.kill(os.getppid(), signal.SIGKILL)
                os.kill(os.getpid(), signal.SIGKILL)
        return table


STEPS = [{"normalize_text": {}}, {"words_filter": {"min_words": 5}}, {"exact_dedup": {}},
         {"text_length_filter": {"max_chars": 600}}]


def with_killer(params: dict) -> list[dict]:
    return STEPS[:2] + [{"tests.pipeline.executors.test_local_retry:KillWorker": params}] + STEPS[2:]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    folder = tmp_path_factory.mktemp("retry")
    write_parquet_shards(folder / "in", 4, 150)
    ref = folder / "reference"
    never = folder / "never"
    for n in range(5):
        Path(f"{never}.{n}").write_text("")  # every marker present: this run never kills
    run_recipe(validate_recipe(recipe_dict(f"{folder}/in/*.parquet", str(ref), with_killer({"marker": str(never)}), workers=2)))
    return folder, ref


def assert_same(a: Path, b: Path) -> None:
    names = sorted(p.name for p in a.glob("*.parquet"))
    assert names == sorted(p.name for p in b.glob("*.parquet"))
    for name in names:
        assert pq.read_table(a / name).equals(pq.read_table(b / name)), name
    key = lambda r: (r["operator"], r["id"])  # noqa: E731
    assert sorted(read_rejected(a), key=key) == sorted(read_rejected(b), key=key)


@pytest.mark.parametrize("parent", [False, True], ids=["worker", "worker_and_forkserver"])
def test_killed_worker_is_retried_and_the_output_equals_an_uninterrupted_run(reference, tmp_path, parent):
    folder, ref = reference
    out = tmp_path / "out"
    marker = tmp_path / "killed"
    steps = with_killer({"marker": str(marker), "times": 2, "parent": parent, "driver": os.getpid()})
    # a thread in the driver (as an object store client's) makes the workers come from the fork server
    idle = threading.Event()
    holder = threading.Thread(target=idle.wait, daemon=True)
    if parent:
        holder.start()
    try:
        result = run_recipe(validate_recipe(recipe_dict(f"{folder}/in/*.parquet", str(out), steps, workers=2)))
    finally:
        idle.set()
    assert Path(f"{marker}.1").exists(), "the worker was not killed twice"
    assert_same(ref, out)
    assert result.stats["input"]["documents"] == 600
    # the killed workers' partial files of segment 0 (before any PII step could run) are gone too
    assert not list((out / "_work").rglob(".*.tmp-*"))


def test_a_task_that_keeps_killing_its_worker_fails_naming_the_shard(reference, tmp_path):
    folder, _ = reference
    out = tmp_path / "out"
    steps = with_killer({"marker": str(tmp_path / "killed"), "times": 4, "shard": 2})
    recipe = write_recipe(tmp_path / "r.yaml", recipe_dict(f"{folder}/in/*.parquet", str(out), steps, workers=2))
    proc = subprocess.run([sys.executable, "-m", "pipeline.cli", "run", str(recipe), "--quiet"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "part-002.parquet" in proc.stderr and "worker process died 4 times" in proc.stderr, proc.stderr
    # only the task whose worker died is to blame, not those the broken pool stopped alongside it
    assert not any(f"part-00{i}.parquet" in proc.stderr for i in (0, 1, 3)), proc.stderr
    assert not (out / "part-002.parquet").exists()
