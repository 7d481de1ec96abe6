"""The `pipeline` command ends without the interpreter's module teardown (pipeline/cli.py,
`console_main`), and nothing of an ordinary exit is lost with it: the exit code, everything
printed, the atexit handlers (the workers' pool, temporary folders, a custom step's own handler),
and a thread that user code left running, which is still waited for."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import ROOT
from tests.core_helpers import recipe_dict, write_recipe

# a custom step whose module registers an atexit handler and may start a non-daemon thread
CUSTOM_STEP = '''
import atexit, os, threading, time
from operators.text.normalize import NormalizeText

def _leave(name):
    with open(os.path.join(os.environ["EXIT_PROBE"], name), "w") as f:
        f.write("done")

atexit.register(_leave, "atexit")
if os.environ.get("EXIT_THREAD"):
    threading.Thread(target=lambda: (time.sleep(1.0), _leave("thread"))).start()

class Probe(NormalizeText):
    pass
'''


def run_cli(tmp_path, *, thread: bool = False, workers: int = 2, broken: bool = False):
    (tmp_path / "exit_probe_step.py").write_text(CUSTOM_STEP)
    probe = tmp_path / "probe"
    probe.mkdir(exist_ok=True)
    temp = tmp_path / "tmp"
    temp.mkdir(exist_ok=True)
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"text": f"document {i} with enough words in it"}) + "\n" for i in range(4)))
    steps = [{"exit_probe_step:Probe": {}}, {"words_filter": {"min_words": 3}}]
    recipe = write_recipe(tmp_path / "r.yaml", recipe_dict(str(source), str(tmp_path / "out"), steps, workers=workers))
    if broken:
        recipe.write_text("steps: [\n")
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{tmp_path}", "EXIT_PROBE": str(probe), "TMPDIR": str(temp)}
    env.pop("EXIT_THREAD", None)
    if thread:
        env["EXIT_THREAD"] = "1"
    proc = subprocess.run([sys.executable, "-m", "pipeline.cli", "run", str(recipe), "--set", "input.rows_per_task=1"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    return proc, sorted(p.name for p in probe.iterdir()), sorted(p.name for p in temp.iterdir())


def test_a_run_exits_with_its_code_its_output_and_its_atexit_handlers(tmp_path):
    proc, probes, temporaries = run_cli(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "4 in = 4 kept + 0 removed" in proc.stdout  # printed to a pipe: flushed before the exit
    assert probes == ["atexit"]
    assert not [t for t in temporaries if t.startswith("pipeline-local-")]  # the pool's folder, removed at exit


def test_a_thread_left_running_is_waited_for(tmp_path):
    proc, probes, _ = run_cli(tmp_path, thread=True, workers=1)
    assert proc.returncode == 0, proc.stderr
    assert probes == ["atexit", "thread"]


def test_a_failure_keeps_its_exit_code_and_message(tmp_path):
    proc, _, _ = run_cli(tmp_path, broken=True)
    assert proc.returncode == 2
    assert "invalid recipe" in proc.stderr


def test_a_run_under_cprofile_still_writes_its_profile(tmp_path):
    # cProfile writes after the module returns, not at exit: a profiled run takes the usual exit
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"text": "one document with enough words in it"}) + "\n")
    recipe = write_recipe(tmp_path / "r.yaml", recipe_dict(str(source), str(tmp_path / "out"), [{"words_filter": {}}]))
    profile = tmp_path / "run.prof"
    proc = subprocess.run([sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "pipeline.cli", "run", str(recipe),
                           "--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert profile.stat().st_size > 0
