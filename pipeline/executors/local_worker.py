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
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), name="parent-watch", daemon=True).start()


def _exit_with_parent(parent: int, every: float = 1.0) -> None:
    """End this worker once its parent (the driver, or the fork server, which ends with the driver)
    is gone: the worker is then adopted, and its parent pid changes."""
    while os.getppid() == parent:
        time.sleep(every)
    os._exit(1)


def run_marked(task: Task, start_mark: str) -> dict[str, Any]:
    """Leave a mark holding this worker's pid (a plain write: it survives a SIGKILL), then run."""
    fd = os.open(start_mark, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    try:
        os.write(fd, str(os.getpid()).encode())
    finally:
        os.close(fd)
    return task.run()
