"""presidio imports Hugging Face transformers and torch when they are installed (they are here:
the test environment has both), seconds a worker for an engine the scrubber never uses. Setting
the scrubber up leaves them unloaded; it still finds what it should; they import normally after."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

SCRIPT = """
import sys
from operators.pii.scrubber import PIIScrubber
scrubber = PIIScrubber(policy="tag")
scrubber.ensure_setup()
print(sorted(m for m in ("transformers", "torch") if m in sys.modules))
print(scrubber([{"text": "Write to jane.doe@example.org today."}]).column("text")[0].as_py())
import torch  # still importable by whoever needs it
print(torch.__name__)
"""


@pytest.mark.skipif(not (importlib.util.find_spec("torch") and importlib.util.find_spec("transformers")),
                    reason="torch and transformers are not installed: presidio has nothing heavy to import")
def test_scrubber_setup_loads_neither_transformers_nor_torch() -> None:
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr
    loaded, scrubbed, torch_name = proc.stdout.splitlines()
    assert loaded == "[]"
    assert scrubbed == "Write to <EMAIL> today."
    assert torch_name == "torch"
