"""What an executor runs: plain tasks. A task is a picklable function and its argument, plus
what a backend needs to place and report it; backends know nothing of what the function does."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TaskResources:
    """CPUs and memory one task reserves; `declared_by` names who asked for the most."""

    cpus: float = 1.0
    memory_gb: float = 0.0
    declared_by: str = ""


@dataclass
class Task:
    fn: Callable[[Any], dict[str, Any]]  # a module-level function (pickled by reference)
    arg: Any
    name: str  # what error messages call it: "shard data/part-0.parquet", "minhash_dedup:bands task 3"
    resources: TaskResources = field(default_factory=TaskResources)
    progress_key: str | None = None  # the bar its documents count on (a shard name), or None
    documents: int | None = None  # documents it will read, when known (the progress total)

    def run(self) -> dict[str, Any]:
        return self.fn(self.arg)


def documents_total(tasks: list[Task]) -> int | None:
    if any(t.documents is None for t in tasks):
        return None
    return sum(t.documents or 0 for t in tasks)


class Backend:
    """Runs tasks in parallel; `map` returns their results in the order of `tasks`.

    A task's result may carry `progress_documents`: the exact documents done, for its bar.
    `driver_reads_data`: whether the driver runs on the machine of the workers, so that it may
    read and write their data itself (joining a big file's pieces while they run); on a cluster
    it reads only marks and stats, and such work runs as tasks."""

    driver_reads_data = True

    def map(self, tasks: list[Task], label: str) -> list[dict[str, Any]]:
        raise NotImplementedError

    def start(self) -> None:
        """Start the workers now, before the driver starts threads of its own (a local pool forks
        its workers from the driver only while the driver has no other thread)."""

    def close(self) -> None:
        pass


# ---- worker side: per-batch progress, routed by whichever backend runs the task -----------

_progress: Callable[[str, int], None] | None = None


def set_progress_hook(hook: Callable[[str, int], None] | None) -> None:
    global _progress
    _progress = hook


def report_progress(key: str, documents_done: int) -> None:
    if _progress is not None:
        _progress(key, documents_done)


@contextlib.contextmanager
def progress_counted_as(key: str, before: int) -> Iterator[None]:
    """Per-batch reports made inside the block count on `key`, after `before` documents: the
    tasks of a group share the group's one bar, which the driver ends by the group's key."""
    outer = _progress

    def counted(_key: str, done: int) -> None:
        if outer is not None:
            outer(key, before + done)

    set_progress_hook(counted if outer is not None else None)
    try:
        yield
    finally:
        set_progress_hook(outer)
