"""Progress bars on the driver, fed by (shard, documents read so far) messages from workers."""

from __future__ import annotations

import sys
import threading
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class ShardProgress:
    """An overall bar plus one bar per running shard; silent when disabled."""

    def __init__(self, label: str, total_docs: int | None, enabled: bool = True):
        self.enabled = enabled
        self._lock = threading.Lock()
        self._shards: dict[str, Any] = {}
        self._seen: dict[str, int] = {}
        if not enabled:
            return
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>9} docs/s"), TimeElapsedColumn(), TimeRemainingColumn(),
            console=Console(file=sys.stderr), transient=False,
        )
        self.overall = self.progress.add_task(label, total=total_docs, rate="")
        self.progress.start()

    def update(self, shard: str, docs_read: int) -> None:
        if not self.enabled:
            return
        with self._lock:
            delta = docs_read - self._seen.get(shard, 0)
            self._seen[shard] = docs_read
            if shard not in self._shards:
                self._shards[shard] = self.progress.add_task(f"  {shard}", total=None, rate="")
            self.progress.update(self._shards[shard], completed=docs_read)
            self.progress.advance(self.overall, delta)
            task = self.progress.tasks[self.overall]
            self.progress.update(self.overall, rate=f"{task.speed:,.0f}" if task.speed else "")

    def shard_done(self, shard: str) -> None:
        if not self.enabled:
            return
        with self._lock:
            tid = self._shards.pop(shard, None)
            if tid is not None:
                self.progress.remove_task(tid)

    def close(self) -> None:
        if self.enabled:
            self.progress.stop()
