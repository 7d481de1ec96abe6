"""A run killed with SIGKILL at several points and run again gives output identical to an
uninterrupted run: no document lost, none duplicated. Real subprocesses, real kills."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline.recipe import validate_recipe
from pipeline.runner import run_recipe
from tests.conftest import ROOT
from tests.core_helpers import read_rejected, recipe_dict, stats, write_parquet_shards, write_recipe

STEPS = [
    {"normalize_text": {}},
    {"tests.custom_ops:SlowMapper": {"seconds": 0.04}},
    {"words_filter": {"min_words": 10}},
    {"exact_dedup": {"partitions": 4}},
    {"tests.custom_ops:SlowMapper": {"seconds": 0.02}},
    {"text_length_filter": {"max_chars": 600}},
]


def markers(out: Path, pattern: str) -> int:
    return len(list((out / "_work").glob(pattern))) if (out / "_work").exists() else 0


# Each kill point: a condition on the output folder at which the run is killed.
KILL_POINTS = {
    "early": lambda out, t: t > 0.3 and markers(out, "seg0/_done/*.json") == 0,
    "mid_segment0": lambda out, t: markers(out, "seg0/_done/*.json") >= 1,
    "mid_global_stage": lambda out, t: markers(out, "step03_exact_dedup/_done/hash/*.json") >= 1,
    "mid_last_segment": lambda out, t: markers(out, "seg1/_done/*.json") >= 1,
}


def start(recipe: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pipeline.cli", "run", str(recipe), "--quiet"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


def kill_when(proc: subprocess.Popen, out: Path, condition, whole_group: bool = True, timeout: float = 120) -> bool:
    """Kill the run when `condition` holds; False if it finished first."""
    t0 = time.monotonic()
    while proc.poll() is None:
        if condition(out, time.monotonic() - t0):
            if whole_group:
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        if time.monotonic() - t0 > timeout:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail("run did not reach the kill point in time")
        time.sleep(0.02)
    return False


def snapshot(out: Path):
    files = {p.name: pq.read_table(p) for p in sorted(out.glob("*.parquet"))}
    rejected = sorted((r["id"], r["operator"], r["reason"]) for r in read_rejected(out))
    s = stats(out)
    counts = [(t["operator"], t["documents_in"], t["documents_out"], t["removed"]) for t in s["steps"]]
    return files, rejected, counts, s["input"]["documents"], s["output"]["documents"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("kill")
    write_parquet_shards(folder / "in", 6, 240)
    reference = folder / "reference"
    run_recipe(validate_recipe(recipe_dict(f"{folder}/in/*.parquet", str(reference), steps=STEPS, workers=2)))
    return folder, snapshot(reference)


def assert_same(out: Path, expected) -> None:
    files, rejected, counts, n_in, n_out = snapshot(out)
    ref_files, ref_rejected, ref_counts, ref_in, ref_out = expected
    assert sorted(files) == sorted(ref_files)
    for name, table in files.items():
        assert table.equals(ref_files[name]), name
    assert rejected == ref_rejected
    assert counts == ref_counts
    assert n_in == ref_in == n_out + len(rejected)
    ids = [i for t in files.values() for i in t.column("id").to_pylist()] + [r[0] for r in rejected]
    assert len(ids) == len(set(ids)) == n_in  # none lost, none duplicated


@pytest.mark.parametrize("point", ["early", "mid_global_stage"])
def test_killed_at_a_point_then_resumed(dataset, point, tmp_path):
    folder, expected = dataset
    out = tmp_path / "out"
    recipe = write_recipe(tmp_path / "r.yaml", recipe_dict(f"{folder}/in/*.parquet", str(out), steps=STEPS, workers=2))
    killed = kill_when(start(recipe), out, KILL_POINTS[point])
    assert killed, f"the run finished before reaching {point}"
    assert not (out / "stats.json").exists()
    proc = start(recipe)
    assert proc.wait(timeout=300) == 0, proc.stderr.read().decode()
    assert_same(out, expected)


def test_killed_repeatedly_and_driver_only(dataset, tmp_path):
    """Kill at every point in turn in the same folder, the last time only the driver (its
    workers are orphaned and may still finish a shard), then finish."""
    folder, expected = dataset
    out = tmp_path / "out"
    recipe = write_recipe(tmp_path / "r.yaml", recipe_dict(f"{folder}/in/*.parquet", str(out), steps=STEPS, workers=2))
    points = list(KILL_POINTS.values())[1:]
    killed = [kill_when(start(recipe), out, condition, whole_group=(i != len(points) - 1))
              for i, condition in enumerate(points)]
    assert killed == [True] * len(points), f"some runs finished before their kill point: {killed}"
    proc = start(recipe)
    assert proc.wait(timeout=300) == 0, proc.stderr.read().decode()
    assert_same(out, expected)
    assert not list(out.rglob(".*.tmp-*")), "temporary files of killed runs must not remain"
