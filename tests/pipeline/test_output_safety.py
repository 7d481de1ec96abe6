"""The output folder's life cycle (issue 12): `--fresh` deletes only what this pipeline wrote,
the input and the output never overlap, a changed input is refused, one run at a time holds
the folder, secrets and work files do not stay on disk, and a full disk is a clear error."""

from __future__ import annotations

import json
import logging
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.io.readers import InputError
from pipeline.recipe import validate_recipe
from pipeline.runner import run_recipe
from tests.conftest import ROOT
from tests.core_helpers import read_output, recipe_dict, stats, write_parquet_shards, write_recipe

DEDUP_STEPS = [{"normalize_text": {}}, {"exact_dedup": {}}, {"words_filter": {"min_words": 5}}]


def run(data, **kw):
    return run_recipe(validate_recipe(data), **kw)


def cli(*args: str, env: dict[str, str] | None = None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "200", **(env or {})}, **kw)


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ---- item 1: --fresh deletes only what this pipeline wrote -------------------------------------


def test_fresh_with_output_equal_to_input_folder_deletes_nothing(tmp_path):
    write_parquet_shards(tmp_path / "in", 2, 20)
    before = tree(tmp_path / "in")
    with pytest.raises(InputError, match="output folder .* is the input folder"):
        run(recipe_dict(f"{tmp_path}/in/*.parquet", str(tmp_path / "in"), steps=[]), fresh=True)
    assert tree(tmp_path / "in") == before


def test_fresh_in_a_foreign_folder_deletes_nothing_and_the_message_does_not_suggest_it(tmp_path):
    write_parquet_shards(tmp_path / "in", 1, 20)
    out = tmp_path / "out"
    (out / ".git").mkdir(parents=True)
    (out / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (out / ".env").write_text("TOKEN=1\n")
    pq.write_table(pa.table({"x": [1]}), out / "part-000.parquet")  # even with an output shard's name
    before = tree(out)
    data = recipe_dict(f"{tmp_path}/in/*.parquet", str(out), steps=[])
    with pytest.raises(InputError, match="holds no run of this pipeline") as info:
        run(data, fresh=True)
    assert "--fresh deletes only what this pipeline wrote" in str(info.value)
    assert tree(out) == before
    with pytest.raises(InputError, match="holds no run of this pipeline") as info:
        run(data)
    assert "use --fresh" not in str(info.value)
    assert tree(out) == before


def test_fresh_in_its_own_folder_keeps_files_it_did_not_write(tmp_path):
    write_parquet_shards(tmp_path / "in", 3, 40)
    out = tmp_path / "out"
    run(recipe_dict(f"{tmp_path}/in/*.parquet", str(out), steps=DEDUP_STEPS, output={"rows_per_shard": 10}))
    assert (out / "part-000-00001.parquet").exists()
    (out / "notes.txt").write_text("mine")
    pq.write_table(pa.table({"x": [1]}), out / "mine.parquet")
    run(recipe_dict(f"{tmp_path}/in/*.parquet", str(out), steps=DEDUP_STEPS[:1]), fresh=True)
    assert (out / "notes.txt").read_text() == "mine" and pq.read_table(out / "mine.parquet").num_rows == 1
    assert sorted(p.name for p in out.glob("part-*")) == ["part-000.parquet", "part-001.parquet", "part-002.parquet"]
    assert not (out / "rejected").exists()  # the earlier run's rejected rows went with it
    assert stats(out)["input"]["documents"] == 120


# ---- item 5: a changed input is refused, naming what changed -----------------------------------


def test_changed_input_is_refused_naming_the_change(tmp_path):
    shards = write_parquet_shards(tmp_path / "in", 4, 30)
    out = tmp_path / "out"
    data = recipe_dict(f"{tmp_path}/in/*.parquet", str(out), steps=DEDUP_STEPS)
    run(data)
    shards[3].unlink()
    pq.write_table(pa.table({"text": ["a changed shard with some words in it"]}), shards[1])
    pq.write_table(pa.table({"text": ["a new shard"]}), tmp_path / "in" / "part-009.parquet")
    with pytest.raises(InputError, match="input changed since the run in") as info:
        run(data)
    msg = str(info.value)
    assert "removed: " in msg and "part-003.parquet" in msg
    assert "modified: " in msg and "part-001.parquet" in msg
    assert "added: " in msg and "part-009.parquet" in msg
    assert (out / "part-003.parquet").exists()  # nothing touched by the refusal
    run(data, fresh=True)
    assert sorted(p.name for p in out.glob("*.parquet")) == ["part-000.parquet", "part-001.parquet",
                                                             "part-002.parquet", "part-009.parquet"]
    assert stats(out)["input"]["files"] == 4 and stats(out)["input"]["documents"] == 62


# ---- item 6: the output folder never overlaps the input -----------------------------------------


@pytest.mark.parametrize("spec", ["{in}", "{in}/**/*.json*"])
def test_output_inside_an_input_directory_is_refused(tmp_path, spec):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jsonl").write_text('{"text": "one document here"}\n')
    out = folder / "out"
    with pytest.raises(InputError, match="output folder .* is inside the input"):
        run(recipe_dict(spec.format(**{"in": folder}), str(out), steps=[]))
    assert not (out / "_work").exists()


# ---- item 7: one run at a time -----------------------------------------------------------------


def _slow_recipe(tmp_path: Path, out: Path, name: str, seconds: float) -> Path:
    steps = [{"tests.custom_ops:SlowMapper": {"seconds": seconds}}, {"words_filter": {"min_words": 3}}]
    return write_recipe(tmp_path / name, recipe_dict(f"{tmp_path}/in/*.parquet", str(out), steps=steps))


def test_second_run_on_a_busy_folder_is_refused_and_touches_nothing(tmp_path):
    write_parquet_shards(tmp_path / "in", 2, 200)
    out = tmp_path / "out"
    first = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "run", str(_slow_recipe(tmp_path, out, "a.yaml", 1.0)),
                              "--quiet"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not list(out.glob(".*.tmp-*")):
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()
            time.sleep(0.02)
        second = cli("run", str(_slow_recipe(tmp_path, out, "b.yaml", 0.2)), "--quiet", "--fresh")
        assert second.returncode == 1
        assert f"is in use by another run (pid {first.pid} on {socket.gethostname()}" in second.stderr
        assert "Traceback" not in second.stderr
        _, err = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, err
    assert stats(out)["steps"][0]["params"]["seconds"] == 1.0 and not (out / ".pipeline.lock").exists()


def test_stale_lock_of_a_dead_process_is_taken_over_and_a_foreign_host_lock_is_not(tmp_path):
    write_parquet_shards(tmp_path / "in", 1, 10)
    out = tmp_path / "out"
    out.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock = out / ".pipeline.lock"
    lock.write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(), "started": "2026-12-01T00:00:00Z"}))
    data = recipe_dict(f"{tmp_path}/in/*.parquet", str(out), steps=[])
    run(data)
    assert not lock.exists() and stats(out)["output"]["documents"] == 10
    lock.write_text(json.dumps({"pid": 1, "host": "elsewhere.example", "started": "2026-12-01T00:00:00Z"}))
    with pytest.raises(InputError, match=r"in use by another run \(pid 1 on elsewhere.example"):
        run(data)
    assert lock.exists()


# ---- item 11: secrets and work files ---------------------------------------------------------


def test_salt_never_reaches_disk_and_still_decides_the_fingerprint(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    pq.write_table(pa.table({"text": ["write to jane.doe@example.com today", "nothing here at all"]}), folder / "a.parquet")
    out = tmp_path / "out"
    salt = "pepper-7f3a9c1e-secret"
    data = recipe_dict(f"{folder}/a.parquet", str(out), steps=[{"pii_scrubber": {"policy": "hash", "salt": salt}}])
    run(data)
    for name, content in tree(out).items():
        assert salt.encode() not in content, name
    data["steps"][0]["pii_scrubber"]["salt"] = "another-salt-entirely"
    with pytest.raises(InputError, match="different recipe"):
        run(data)


def test_work_files_are_deleted_after_a_successful_run_and_a_rerun_is_a_no_op(tmp_path):
    write_parquet_shards(tmp_path / "in", 3, 40)
    out = tmp_path / "out"
    data = recipe_dict(f"{tmp_path}/in/*.parquet", str(out), steps=DEDUP_STEPS)
    run(data)
    leftovers = [p for p in (out / "_work").rglob("*") if p.is_file() and "_done" not in p.parts and p.name != "recipe.json"]
    assert leftovers == []
    mtimes = {p: p.stat().st_mtime_ns for p in out.glob("*.parquet")}
    run(data)
    assert {p: p.stat().st_mtime_ns for p in out.glob("*.parquet")} == mtimes
    kept = tmp_path / "kept"
    run(recipe_dict(f"{tmp_path}/in/*.parquet", str(kept), steps=DEDUP_STEPS, output={"keep_intermediate": True}))
    assert list((kept / "_work").glob("step01_exact_dedup/data/*")) and list((kept / "_work").glob("seg0/*.parquet"))


def test_keeping_intermediate_shards_before_a_pii_step_warns(tmp_path, caplog):
    write_parquet_shards(tmp_path / "in", 1, 10)
    steps = [{"exact_dedup": {}}, {"words_filter": {"min_words": 1}}, {"exact_dedup": {}}, {"pii_scrubber": {}}]
    data = recipe_dict(f"{tmp_path}/in/*.parquet", str(tmp_path / "out"), steps=steps, output={"keep_intermediate": True})
    with caplog.at_level(logging.WARNING, logger="pipeline"):
        run(data)
    assert "keep_intermediate" in caplog.text and "pii_scrubber" in caplog.text and "unscrubbed" in caplog.text


# ---- item 16: a full disk is a clear error; the rerun with space is identical ------------------


def _limit_file_size(limit: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_file_size_limit_while_writing_shards_is_a_clear_error_and_the_rerun_is_identical(tmp_path):
    """RLIMIT_FSIZE makes the kernel refuse writes past a size (EFBIG) for this process tree only:
    a real write failure in the middle of a shard, no privileges needed (Python ignores SIGXFSZ)."""
    write_parquet_shards(tmp_path / "in", 2, 400)
    reference = tmp_path / "reference"
    run(recipe_dict(f"{tmp_path}/in/*.parquet", str(reference), steps=DEDUP_STEPS, workers=2))
    out = tmp_path / "out"
    recipe = write_recipe(tmp_path / "r.yaml", recipe_dict(f"{tmp_path}/in/*.parquet", str(out), steps=DEDUP_STEPS, workers=2))
    proc = subprocess.run([sys.executable, "-m", "pipeline.cli", "run", str(recipe), "--quiet"], cwd=ROOT,
                          capture_output=True, text=True, preexec_fn=_limit_file_size(12_000))
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "File too large" in proc.stderr and str(out) in proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 2, proc.stderr
    assert cli("run", str(recipe), "--quiet").returncode == 0
    assert tree(out).keys() >= {p for p in tree(reference) if p.endswith(".parquet")}
    for p in reference.rglob("*.parquet"):
        assert pq.read_table(p).equals(pq.read_table(out / p.relative_to(reference))), p


@pytest.fixture
def small_tmpfs(tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("mounting a tmpfs needs root with CAP_SYS_ADMIN")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=True)


def test_disk_full_while_writing_shards_is_a_clear_error_and_the_rerun_with_space_is_identical(tmp_path, small_tmpfs):
    """A real full disk: a 64 KiB tmpfs; then it is mounted read-only; then it is given room
    (remount) and the run resumes."""
    write_parquet_shards(tmp_path / "in", 3, 400)
    reference = tmp_path / "reference"
    run(recipe_dict(f"{tmp_path}/in/*.parquet", str(reference), steps=DEDUP_STEPS))
    out = small_tmpfs / "out"
    recipe = write_recipe(tmp_path / "r.yaml", recipe_dict(f"{tmp_path}/in/*.parquet", str(out), steps=DEDUP_STEPS))
    proc = cli("run", str(recipe), "--quiet")
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "No space left on device" in proc.stderr and str(out) in proc.stderr
    subprocess.run(["mount", "-o", "remount,ro", str(small_tmpfs)], check=True)  # root ignores chmod; not a ro mount
    proc = cli("run", str(recipe), "--quiet")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert f"output folder {out} is not writable: Read-only file system" in proc.stderr
    subprocess.run(["mount", "-o", "remount,rw,size=16m", str(small_tmpfs)], check=True)
    proc = cli("run", str(recipe), "--quiet")
    assert proc.returncode == 0, proc.stderr
    for p in reference.rglob("*.parquet"):
        assert pq.read_table(p).equals(pq.read_table(out / p.relative_to(reference))), p
    assert read_output(out) == read_output(reference)


# ---- also: validate runs no code named by a recipe; the report is not optional ------------------


def test_validate_does_not_import_custom_modules_unless_allowed(tmp_path):
    write_parquet_shards(tmp_path / "in", 1, 5)
    module = tmp_path / "evil_module.py"
    flag = tmp_path / "imported"
    module.write_text(f"open({str(flag)!r}, 'w').close()\n")
    recipe = write_recipe(tmp_path / "r.yaml", recipe_dict(f"{tmp_path}/in/*.parquet", str(tmp_path / "out"),
                                                           steps=[{"words_filter": {"min_words": -1}}, {"evil_module:Op": {}}]))
    env = {"PYTHONPATH": f"{ROOT}{os.pathsep}{tmp_path}"}
    proc = cli("validate", str(recipe), env=env)
    assert not flag.exists(), "validate imported a module named by the recipe"
    assert proc.returncode == 2 and "steps[0].words_filter.min_words: must be >= 0" in proc.stderr
    assert "steps[1]: evil_module:Op" in proc.stderr and "--allow-custom" in proc.stderr
    proc = cli("validate", str(recipe), "--allow-custom", env=env)
    assert flag.exists() and proc.returncode == 2
    assert "steps[1]: unknown operator 'evil_module:Op'" in proc.stderr


def test_interrupted_run_releases_its_lock(tmp_path):
    """Ctrl-C (SIGINT) ends a run cleanly: exit 130 and the lock is released."""
    write_parquet_shards(tmp_path / "in", 1, 400)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "run", str(_slow_recipe(tmp_path, out, "r.yaml", 0.2)),
                             "--quiet"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not list(out.glob(".*.tmp-*")):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert not (out / ".pipeline.lock").exists()
