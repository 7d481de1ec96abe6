"""What runs inside a local worker process: its initializer and the task wrapper. A module of its
own so that the workers' fork server preloads it without the driver's progress bars (rich)."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from pipeline.executors.base import Task, set_progress_hook

_queue: Any = None


def init_worker(q: Any) -> None:
    global _queue
    _queue = q
    set_progress_hook(lambda shard, n: q.put((shard, n)))
    # a driver killed with SIGKILL cannot stop its pool: without this, its workers wait forever
    global _parent
    _parent = os.getppid()
    threading.Thread(target=_exit_when_orphaned, name="parent-watch", daemon=True).start()


_parent: int | None = None  # the driver, or the fork server (which ends with the driver)
_busy = False  # a task is running


def _orphaned() -> bool:
    return _parent is not None and os.getppid() != _parent  # adopted: the parent is gone


def _exit_when_orphaned(every: float = 0.5) -> None:
    """End this worker once its parent is gone, when no task runs (a running task is finished
    first: stopped midway it would leave temporaries after the next run has swept them)."""
    while True:
        time.sleep(every)
        if _orphaned() and not _busy:
            os._exit(1)


def run_marked(task: Task, start_mark: str) -> dict[str, Any]:
    """Leave a mark holding this worker's pid (a plain write: it survives a SIGKILL), then run."""
    global _busy
    _busy = True
    try:
        fd = os.open(start_mark, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        try:
            os.write(fd, str(os.getpid()).encode())
        finally:
            os.close(fd)
        return task.run()
    finally:
        _busy = False
        if _orphaned():  # nobody will take the result
            os._exit(1)
