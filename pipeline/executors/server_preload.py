"""What the workers' fork server imports for the recipe at hand, once for all its workers.

The driver names the recipe's steps and the store client modules in an environment variable
while it starts the server (names only: no parameter, no credential); the server imports this
module among its preloads, which imports those modules and calls each step class's `preload`
(the libraries its `setup` would import: presidio for the PII scrubber, seconds a process).
What fails here is left for the worker to meet and report where it belongs (a missing module, a
step that does not exist): this only saves time.
"""

from __future__ import annotations

import importlib
import json
import os

ENV = "PIPELINE_FORK_SERVER_PRELOAD"


def describe(steps: list[str], modules: list[str]) -> str:
    return json.dumps({"steps": steps, "modules": modules})


def preload(spec: str) -> list[str]:
    """Import what `spec` names; returns what could not be (the workers will say why)."""
    wanted = json.loads(spec) if spec else {}
    missed = []
    for module in wanted.get("modules", []):
        try:
            importlib.import_module(module)
        except ImportError:
            missed.append(module)
    if wanted.get("steps"):
        from operators import registry

        for name in wanted["steps"]:
            try:
                registry.get(name).preload()
            except Exception:  # noqa: BLE001 - an unknown step or a broken library: the worker reports it
                missed.append(name)
    return missed


if os.environ.get(ENV):  # imported by the fork server as it starts
    preload(os.environ[ENV])
