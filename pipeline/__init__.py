"""Pretraining-data pipeline: recipes, executors, I/O, CLI and report."""

from typing import Any

__all__ = ["run"]


def __getattr__(name: str) -> Any:  # lazy, so `pipeline --help` stays fast
    if name == "run":
        from pipeline.api import run

        return run
    raise AttributeError(name)
