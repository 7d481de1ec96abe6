"""Local executor: tasks run in a pool of worker processes (or inline with one worker).

A worker process that dies mid-task (killed, out of memory) breaks the whole pool; the pool is
then rebuilt and every unfinished task submitted again. The task whose worker died is charged an
attempt (its worker left a start mark; the pool's other workers, stopped by the pool with
SIGTERM, are not to blame); after MAX_RETRIES retries the run stops naming its shard, as the Ray
executor does. An operator's own exception is never retried: it is a bug or bad input.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import queue
import shutil
import signal
import tempfile
import threading
from collections import Counter
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from pipeline.errors import TaskFailed
from pipeline.executors.base import Backend, Task, documents_total, set_progress_hook
from pipeline.executors.local_worker import init_worker, run_marked
from pipeline.progress import ShardProgress

log = logging.getLogger(__name__)

MAX_RETRIES = 3  # as the Ray executor: a worker dying 4 times on one task is not a transient fault

# what the fork server imports once for all workers; pandas because pyarrow imports it on its first
# conversion of Python lists (pa.array), which every JSONL shard does (a missing module is skipped)
PRELOAD = ["pyarrow", "pyarrow.parquet", "pyarrow.compute", "numpy", "pandas", "pydantic", "operators.registry",
           "pipeline.shard_worker", "pipeline.executors.local_worker", "pipeline.executors.server_preload"]


def _context() -> Any:
    # fork while the driver has no thread but this one: the workers start at once with the
    # modules the driver already imported. Otherwise (an object store client's event loop, a
    # lease's heartbeat, a progress bar) forkserver: workers never inherit the driver's threads,
    # and fork from a server that imported the heavy modules once, instead of each (spawn)
    if threading.active_count() == 1 and not _fork_server_started:
        return mp.get_context("fork")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


_fork_server_started = False


def start_fork_server(steps: list[str] | None = None, modules: list[str] | None = None) -> None:
    """Start the workers' fork server now: its imports (~0.6 s) then overlap the driver's own
    start-up instead of following it, and with them the slow imports of the recipe's `steps`
    (`Operator.preload`) and of the store clients in `modules`, once for all workers instead of
    once each. Harmless when no pool is made after all: it exits with the driver."""
    import os
    from multiprocessing import forkserver

    from pipeline.executors.server_preload import ENV, describe

    global _fork_server_started
    _fork_server_started = True
    _context()
    os.environ[ENV] = describe(steps or [], modules or [])  # read by the server as it starts: names only
    try:
        forkserver.ensure_running()
    finally:
        del os.environ[ENV]


class LocalBackend(Backend):
    def __init__(self, workers: int = 1, progress: bool = True, max_retries: int = MAX_RETRIES):
        self.workers = workers
        self.show_progress = progress
        self.max_retries = max_retries
        self._pool: ProcessPoolExecutor | None = None
        self._queue: Any = None
        self._marks: Path | None = None
        self._rounds = 0

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            ctx = _context()
            self._queue = ctx.Queue()  # a new one per pool: a killed worker may leave the old one locked
            self._pool = ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=init_worker, initargs=(self._queue,))
            if self._marks is None:
                self._marks = Path(tempfile.mkdtemp(prefix="pipeline-local-"))
        return self._pool

    def start(self) -> None:
        if self.workers > 1 and self._pool is None:
            # a pool of forked workers makes them all at its first task: one now, before any thread of
            # the driver's (progress bars, joining a file's pieces), so they are forked from the driver
            self._get_pool().submit(int).result()

    def map(self, tasks: list[Task], label: str) -> list[dict[str, Any]]:
        if not tasks:
            return []
        self.start()
        show = self.show_progress and any(t.progress_key for t in tasks)
        bar = ShardProgress(label, documents_total(tasks), enabled=show)
        try:
            if self.workers == 1:
                set_progress_hook(bar.update)
                try:
                    out = []
                    for task in tasks:
                        out.append(task.run())
                        if task.progress_key:
                            bar.shard_done(task.progress_key)
                    return out
                finally:
                    set_progress_hook(None)
            return self._map_retrying(tasks, bar, label)
        finally:
            bar.close()

    def _map_retrying(self, tasks: list[Task], bar: ShardProgress, label: str) -> list[dict[str, Any]]:
        results: dict[int, dict[str, Any]] = {}
        attempts: Counter = Counter()
        todo = list(range(len(tasks)))
        while todo:
            todo = self._round(tasks, todo, bar, results, attempts)
            failed = [i for i in todo if attempts[i] > self.max_retries]
            if failed:
                raise TaskFailed(
                    f"{label}: {', '.join(tasks[i].name for i in failed)}: its worker process died "
                    f"{attempts[failed[0]]} times while running it (killed, or out of memory?); "
                    f"rerun the same command to resume"
                )
            if todo:
                log.warning("%s: a worker process died; running %d unfinished task(s) again", label, len(todo))
        return [results[i] for i in range(len(tasks))]

    def _round(self, tasks: list[Task], todo: list[int], bar: ShardProgress,
               results: dict[int, dict[str, Any]], attempts: Counter) -> list[int]:
        """Run `todo` on the pool; return the tasks to run again after the pool broke."""
        pool = self._get_pool()
        assert self._marks is not None
        self._rounds += 1
        marks = {i: self._marks / f"{self._rounds}-{i}" for i in todo}
        stop = threading.Event()
        progress_queue = self._queue

        def pump() -> None:
            while not stop.is_set():
                try:
                    # a short wait: joining this thread ends every stage, and 0.2 s cost MinHash's
                    # 20-odd stages seconds; the driver never writes to this queue (its feeder
                    # thread could then hold up the interpreter's exit)
                    shard, n = progress_queue.get(timeout=0.01)
                except queue.Empty:
                    continue
                except (EOFError, OSError):  # the pool broke while a worker was writing
                    return
                bar.update(shard, n)

        thread = threading.Thread(target=pump, daemon=True)
        thread.start()
        futures: dict[Future, int] = {}
        try:
            futures = {pool.submit(run_marked, tasks[i], str(marks[i])): i for i in todo}
            done, pending = wait(futures, return_when=FIRST_EXCEPTION)
            errors = [f.exception() for f in done if f.exception() is not None]
            if any(not isinstance(e, BrokenProcessPool) for e in errors):
                for p in pending:
                    p.cancel()
                raise next(e for e in errors if not isinstance(e, BrokenProcessPool))  # type: ignore[misc]
            if errors:
                wait(pending)  # a broken pool fails every pending future at once
        finally:
            stop.set()
            thread.join()  # no progress message may re-add a shard's bar after it is removed
        again = []
        for f, i in futures.items():
            if f.exception() is None:
                results[i] = f.result()
                if tasks[i].progress_key:
                    bar.shard_done(tasks[i].progress_key)
            elif isinstance(f.exception(), BrokenProcessPool):
                again.append(i)
            else:
                raise f.exception()  # type: ignore[misc]
        if again:
            # nobody to blame (the pool broke before any task started): all are charged, so
            # that a pool that cannot start at all still ends the run
            for i in self._to_blame(pool, [i for i in again if marks[i].exists()], marks) or again:
                attempts[i] += 1
            self._discard_pool()
        for mark in marks.values():
            mark.unlink(missing_ok=True)
        return again

    def _to_blame(self, pool: ProcessPoolExecutor, started: list[int], marks: dict[int, Path]) -> list[int]:
        """The started tasks whose worker died by itself: the pool stops its other workers with
        SIGTERM. If the workers' exit codes cannot be read, every started task is charged."""
        processes = dict(getattr(pool, "_processes", None) or {})
        pool.shutdown(wait=True, cancel_futures=True)
        blamed = []
        for i in started:
            try:
                pid = int(marks[i].read_text() or 0)
            except (OSError, ValueError):
                pid = 0
            proc = processes.get(pid)
            if proc is None or proc.exitcode != -signal.SIGTERM:
                blamed.append(i)
        return blamed

    def _discard_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._queue is not None:
            self._queue.close()
            self._queue = None

    def close(self) -> None:
        self._discard_pool()
        if self._marks is not None:
            shutil.rmtree(self._marks, ignore_errors=True)  # our own empty temporary folder; never worth a failure
            self._marks = None
