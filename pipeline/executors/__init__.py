"""Executors: where tasks run. `make_backend` picks one from the recipe's executor section."""

from __future__ import annotations

from typing import Any


def make_backend(spec: Any, progress: bool = True):
    if spec.type == "local":
        from pipeline.executors.local import LocalBackend

        return LocalBackend(workers=spec.workers, progress=progress)
    if spec.type == "ray":
        from pipeline.executors.ray import RayBackend  # written in the Ray executor issue

        return RayBackend(address=spec.address, workers=spec.workers, progress=progress)
    raise ValueError(f"unknown executor type {spec.type!r}")
