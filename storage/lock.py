"""One run at a time per output folder: a lock file created atomically (O_CREAT | O_EXCL) that
holds the owner's pid, host, process start time and start date.

A lock left by a run that died (kill -9, power loss) is taken over when its owner is provably
gone: same host, and no process with that pid (or one started at another time, the pid having
been reused). A lock held on another host is never taken over: the message names the host, pid
and date, and the file to delete once that run is known to be gone.

Object stores have no O_EXCL; there the same protocol maps onto a lease object written with a
conditional put (`If-None-Match: *`), renewed while the run lives and taken over when expired
(storage.lease): `run_lock`, `acquire`, `check` and `release` are the whole interface the runner uses.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from storage.location import Location

LOCK_NAME = ".pipeline.lock"


class FolderLocked(RuntimeError):
    """Another run holds the output folder."""


def _process_start(pid: int) -> str | None:
    """Start time of a process in clock ticks since boot (Linux), to tell a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22 of proc(5), counted after "pid (comm)"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


class RunLock:
    def __init__(self, folder: Path):
        self.path = folder / LOCK_NAME
        self.held = False
        self._owner = {"pid": os.getpid(), "host": socket.gethostname(), "pid_start": _process_start(os.getpid()),
                       "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}

    def acquire(self) -> None:
        for _ in range(3):  # a stale lock taken over by someone else between our reads: look again
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self._read(self.path)
                if not self._stale(holder):
                    break
                self._take_over(holder)
                continue
            with os.fdopen(fd, "w") as fh:
                json.dump(self._owner, fh)
            self.held = True
            return
        holder = self._read(self.path) or {}
        raise FolderLocked(
            f"output folder {self.path.parent} is in use by another run (pid {holder.get('pid', '?')} on "
            f"{holder.get('host', '?')} since {holder.get('started', '?')}); wait for it to finish, or, if that run "
            f"is gone, delete {self.path}"
        )

    def check(self) -> None:
        """A lock file cannot be lost while its process lives."""

    def release(self) -> None:
        if self.held and self._read(self.path) == self._owner:
            self.path.unlink(missing_ok=True)
        self.held = False

    @staticmethod
    def _read(path: Path) -> dict[str, Any] | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):  # being written this instant, or garbage: treat as held
            return {}
        return data if isinstance(data, dict) else {}

    def _stale(self, holder: dict[str, Any] | None) -> bool:
        if holder is None:  # released between our open and our read
            return True
        return gone_from_this_host(holder, self._owner["host"])

    def _take_over(self, holder: dict[str, Any] | None) -> None:
        """Move a stale lock aside; if what we moved is not the stale lock we read (another run
        took it over meanwhile), put it back unless a third run holds the name by now."""
        if holder is None:
            return
        aside = self.path.with_name(f"{LOCK_NAME}.stale-{os.getpid()}")
        try:
            os.replace(self.path, aside)
        except FileNotFoundError:
            return
        if self._read(aside) != holder:
            try:
                os.link(aside, self.path)
            except FileExistsError:
                pass
        aside.unlink(missing_ok=True)


def run_lock(folder: Location) -> Any:
    """The run lock of an output folder: a lock file on a local disk, a lease on an object store."""
    if folder.is_remote:
        from storage.lease import LeaseLock

        return LeaseLock(folder)
    return RunLock(folder.path)


def gone_from_this_host(holder: dict[str, Any], host: str) -> bool:
    """Whether a lock's holder ran on this host and its process is gone (dead, or its pid reused)."""
    if holder.get("host") != host or not isinstance(holder.get("pid"), int):
        return False
    pid = holder["pid"]
    if not _alive(pid):
        return True
    started = holder.get("pid_start")
    return started is not None and _process_start(pid) not in (None, started)
