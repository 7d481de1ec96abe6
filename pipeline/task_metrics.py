"""What one task cost on its worker: CPU seconds, peak memory and bytes read and written.

A `TaskMeter` is started when a task starts and read when it ends; the shard and stage tasks put
its reading in their completion marks and `summarize` merges them per shard segment and per
stage for stats.json (`tasks`). Workers run many tasks one after another, so the figures are
differences of process counters, and the peak is reset per task (Linux: /proc/self/clear_refs).

- cpu_seconds: user + system CPU of the worker process, all its threads (getrusage).
- peak_rss_bytes: the process's resident-set high-water mark during the task (VmHWM after a
  reset at the task's start; where the reset is not allowed, the process's lifetime peak), and
  start_rss_bytes its resident set at the start: the growth is what the task's data took (a
  worker keeps the models and modules earlier tasks loaded).
- read_bytes / write_bytes: bytes passed through read/write system calls (/proc/self/io rchar,
  wchar): input, work data, output and marks, local or remote (sockets count too), whether or
  not the page cache served them. Zero where /proc is absent.
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path
from typing import Any

_PROC = Path("/proc/self")


def _cpu_seconds() -> float:
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def _io_bytes() -> tuple[int, int]:
    try:
        fields = dict(line.split(": ") for line in (_PROC / "io").read_text().splitlines())
        return int(fields["rchar"]), int(fields["wchar"])
    except (OSError, KeyError, ValueError):
        return 0, 0


def _reset_peak() -> bool:
    try:
        (_PROC / "clear_refs").write_text("5")  # 5: reset the peak RSS (Linux >= 4.0)
        return True
    except OSError:
        return False


def _rss() -> int:
    try:
        return int((_PROC / "statm").read_text().split()[1]) * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        return 0


def _peak_rss() -> int:
    try:
        for line in (_PROC / "status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux, bytes on macOS
    return peak if sys.platform == "darwin" else peak * 1024


class TaskMeter:
    """Started at a task's start; `read()` gives what the task has cost so far."""

    def __init__(self) -> None:
        self.peak_reset = _reset_peak()
        self.rss0 = _rss()
        self.cpu0 = _cpu_seconds()
        self.read0, self.write0 = _io_bytes()

    def read(self) -> dict[str, Any]:
        r, w = _io_bytes()
        return {"cpu_seconds": round(_cpu_seconds() - self.cpu0, 4), "peak_rss_bytes": _peak_rss(),
                "peak_rss_per_task": self.peak_reset, "start_rss_bytes": self.rss0, "read_bytes": r - self.read0, "write_bytes": w - self.write0}


def _empty(label: str, kind: str) -> dict[str, Any]:
    return {"label": label, "kind": kind, "tasks": 0, "seconds": 0.0, "cpu_seconds": 0.0, "max_task_seconds": 0.0,
            "peak_rss_bytes": 0, "peak_growth_bytes": 0, "read_bytes": 0, "write_bytes": 0}


def _add(total: dict[str, Any], mark: dict[str, Any]) -> None:
    total["tasks"] += 1
    total["seconds"] += mark["seconds"]
    total["max_task_seconds"] = max(total["max_task_seconds"], mark["seconds"])
    res = mark.get("resources")
    if res:
        total["cpu_seconds"] += res["cpu_seconds"]
        total["peak_rss_bytes"] = max(total["peak_rss_bytes"], res["peak_rss_bytes"])
        if "start_rss_bytes" in res:
            growth = res["peak_rss_bytes"] - res["start_rss_bytes"]
            total["peak_growth_bytes"] = max(total["peak_growth_bytes"], growth)
        total["read_bytes"] += res["read_bytes"]
        total["write_bytes"] += res["write_bytes"]


def summarize(segments: list[Any], steps: list[Any], segment_marks: dict[int, list[dict[str, Any]]],
              stage_marks: dict[int, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Per shard segment and per global stage, in run order: tasks, summed task seconds and CPU
    seconds, the longest task, the largest task peak RSS and growth of RSS during a task, summed
    bytes read and written. The marks are those stats.json was built from (read once)."""
    out = []
    for seg in segments:
        op = steps[seg.first] if seg.first < seg.end else None
        if op is not None and op.kind == "global":  # its stages ran before the segment's shard tasks
            for stage in op.stages():
                total = _empty(f"{op.name}:{stage.name}", stage.kind)
                for mark in stage_marks.get(seg.first, []):
                    if mark.get("stage") == stage.name:
                        _add(total, mark)
                out.append(total)
        names = [steps[k].name for k in range(seg.first, seg.end)]
        total = _empty(f"segment {seg.index}: {' '.join(names) or 'read input'}", "segment")
        for mark in segment_marks.get(seg.index, []):
            _add(total, mark)
        out.append(total)
    for t in out:
        t["seconds"] = round(t["seconds"], 3)
        t["cpu_seconds"] = round(t["cpu_seconds"], 3)
        t["max_task_seconds"] = round(t["max_task_seconds"], 3)
    return out
