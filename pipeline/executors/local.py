"""Local executor: tasks run in a pool of worker processes (or inline with one worker)."""

from __future__ import annotations

import multiprocessing as mp
import queue
import threading
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from typing import Any

from pipeline.executors.base import Backend, Task, documents_total, set_progress_hook
from pipeline.progress import ShardProgress

_queue: Any = None


def _init_worker(q: Any) -> None:
    global _queue
    _queue = q
    set_progress_hook(lambda shard, n: q.put((shard, n)))


def _run(task: Task) -> dict[str, Any]:
    return task.run()


class LocalBackend(Backend):
    def __init__(self, workers: int = 1, progress: bool = True):
        self.workers = workers
        self.show_progress = progress
        self._pool: ProcessPoolExecutor | None = None
        self._queue: Any = None

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # forkserver: workers never inherit the driver's threads, and fork from a server that
            # has imported the heavy modules once, instead of importing them each (spawn)
            ctx = mp.get_context("forkserver")
            ctx.set_forkserver_preload(["pyarrow", "pyarrow.parquet", "pyarrow.compute", "numpy", "pydantic",
                                        "operators.registry", "pipeline.shard_worker"])
            self._queue = ctx.Queue()
            self._pool = ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_worker, initargs=(self._queue,))
        return self._pool

    def map(self, tasks: list[Task], label: str) -> list[dict[str, Any]]:
        if not tasks:
            return []
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
            return self._map_pool(tasks, bar)
        finally:
            bar.close()

    def _map_pool(self, tasks: list[Task], bar: ShardProgress) -> list[dict[str, Any]]:
        pool = self._get_pool()
        stop = threading.Event()

        def pump() -> None:
            while not stop.is_set():
                try:
                    shard, n = self._queue.get(timeout=0.2)
                except queue.Empty:
                    continue
                bar.update(shard, n)

        thread = threading.Thread(target=pump, daemon=True)
        thread.start()
        try:
            futures = [pool.submit(_run, task) for task in tasks]
            done, pending = wait(futures, return_when=FIRST_EXCEPTION)
            for f in done:
                if f.exception() is not None:
                    for p in pending:
                        p.cancel()
                    raise f.exception()  # type: ignore[misc]
            return [f.result() for f in futures]
        finally:
            stop.set()
            thread.join()  # no progress message may re-add a shard's bar after it is removed
            for task in tasks:
                if task.progress_key:
                    bar.shard_done(task.progress_key)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
