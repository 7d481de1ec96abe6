"""Small runs start fast (issue 17): the command line imports no heavy module to parse its
arguments; a run with local workers on local paths forks them from the driver (no fork server,
tests/pipeline/executors/test_local_start.py), and one whose paths are URLs (whose client runs a
thread) starts their fork server before the driver's own heavy imports, so that the two
overlap. Times themselves are measured in bench/bench_startup.py."""

from __future__ import annotations

import json
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from tests.conftest import ROOT
from tests.core_helpers import recipe_dict, write_recipe

HEAVY = ("pyarrow", "numpy", "pandas", "pydantic", "fsspec")


def python(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_parsing_the_command_line_imports_no_heavy_module():
    out = python("import sys, json; from pipeline import cli; cli.build_parser().parse_args(['run', 'r.yaml']);"
                 f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    assert json.loads(out) == []


def test_the_fork_server_preloads_no_progress_bars():
    # the workers report progress through a queue; rich (~0.05 s) is the driver's alone
    from pipeline.executors.local import PRELOAD

    out = python(f"import sys; [__import__(m) for m in {PRELOAD!r}]; print('rich' in sys.modules)")
    assert out.strip() == "False"


# records, when the fork server starts, which heavy modules this process had imported by then
WATCH_FORK_SERVER = """
import json, sys
from multiprocessing import forkserver
from pipeline import cli
started = []
ensure_running = forkserver.ensure_running
def watch():
    started.append([m for m in {heavy!r} if m in sys.modules])
    ensure_running()
forkserver.ensure_running = watch
code = cli.main({argv!r})
print(json.dumps({{"code": code, "started": started}}))
"""


def one_document_recipe(tmp_path, workers: int, executor_type: str = "local"):
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"text": "One small document with enough words to be kept."}) + "\n")
    steps = [{"normalize_text": {}}, {"words_filter": {"min_words": 3}}]
    data = recipe_dict(str(source), str(tmp_path / "out"), steps, workers=workers)
    data["executor"]["type"] = executor_type
    return write_recipe(tmp_path / "r.yaml", data)


def watch_fork_server(argv: list[str]) -> dict:
    return json.loads(python(WATCH_FORK_SERVER.format(heavy=HEAVY, argv=argv)).splitlines()[-1])


def test_a_run_with_workers_on_local_paths_starts_no_fork_server(tmp_path):
    recipe = one_document_recipe(tmp_path, workers=2)
    seen = watch_fork_server(["run", str(recipe), "--quiet"])
    assert seen == {"code": 0, "started": []}
    assert pq.read_table(tmp_path / "out" / "in.parquet").num_rows == 1


@pytest.mark.parametrize("workers, extra", [(1, []), (2, ["--set", "executor.workers=1"])])
def test_a_run_without_workers_starts_no_fork_server(tmp_path, workers, extra):
    recipe = one_document_recipe(tmp_path, workers=workers)
    seen = watch_fork_server(["run", str(recipe), "--quiet", *extra])
    assert seen == {"code": 0, "started": []}


@pytest.mark.parametrize("extra", [["--set", "output.path=s3://bucket/out"], ["--set", "input.path=gs://b/x.jsonl"]])
def test_a_run_with_workers_and_a_url_starts_the_fork_server_before_its_heavy_imports(tmp_path, extra):
    recipe = one_document_recipe(tmp_path, workers=1)
    # the run itself then fails (no such bucket): what matters is when the server started
    seen = watch_fork_server(["run", str(recipe), "--quiet", "--set", "executor.workers=2", *extra])
    assert seen["started"] and seen["started"][0] == [], seen


def test_an_invalid_recipe_is_still_reported_as_such(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("executor: {workers: 2}\nsteps: [\n")
    seen = watch_fork_server(["run", str(recipe)])
    assert seen == {"code": 2, "started": []}


# what a worker forked from the fork server has imported before its first task
WORKER_MODULES = """
import json, sys
from pipeline.executors.local import _context, start_fork_server
def imported(_):
    return [m for m in ("presidio_analyzer", "s3fs", "transformers") if m in sys.modules]
if __name__ == "__main__":
    start_fork_server(["normalize_text", "pii_scrubber", "no_such_step"], ["s3fs", "no_such_module"])
    ctx = _context()
    with ctx.Pool(1) as pool:
        print(json.dumps(pool.map(imported, [0])[0]))
"""


def test_the_fork_server_imports_the_steps_slow_libraries_once_for_all_workers(tmp_path):
    script = tmp_path / "workers.py"
    script.write_text(WORKER_MODULES)
    proc = subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    # presidio without transformers (operators/pii/recognizers.py); names it cannot import are left to the workers
    assert json.loads(proc.stdout.splitlines()[-1]) == ["presidio_analyzer", "s3fs"]
