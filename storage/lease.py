"""One run at a time on an object store, which has no O_EXCL: the lock is a lease object.

The lease (`<output>/.pipeline.lock`) holds a random token, the holder's host, pid, process start
and start date, and when it was last renewed. It is created with a conditional put
(`If-None-Match: *`: S3, SeaweedFS and MinIO refuse it when the object exists); on a store whose
client cannot make one, it is written when absent and read back after a pause, and the token
read decides. A heartbeat thread renews it every quarter of its lifetime. A lease is taken over
when it expired (not renewed for its lifetime: its run is gone or cut off from the store), or at
once when its holder ran on this host and that process is gone (kill -9, then rerun).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from typing import Any

from storage import files
from storage.location import Location

LEASE_SECONDS = 60.0
log = logging.getLogger("pipeline.lease")


class LeaseLock:
    def __init__(self, folder: Location, lifetime: float = LEASE_SECONDS):
        from storage.lock import LOCK_NAME, _process_start

        self.location = folder / LOCK_NAME
        self.lifetime = lifetime
        self.held = False
        self.lost: str | None = None  # why the lease is no longer ours, if it is not
        self._owner = {"token": uuid.uuid4().hex, "pid": os.getpid(), "host": socket.gethostname(),
                       "pid_start": _process_start(os.getpid()),
                       "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "lifetime": lifetime}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._etag: str | None = None  # of our last write, where the store makes conditional puts

    def acquire(self) -> None:
        from storage.lock import FolderLocked

        holder: dict[str, Any] | None = None
        for _ in range(3):  # a stale lease taken over by someone else between our reads: look again
            if self._create():
                self.held = True
                self._thread = threading.Thread(target=self._heartbeat, name="pipeline-lease", daemon=True)
                self._thread.start()
                return
            holder = self._read()
            if holder is not None and not self._stale(holder):
                break
            if holder is not None:
                self._take_over(holder)
        holder = holder or {}
        raise FolderLocked(
            f"output {self.location.parent} is in use by another run (pid {holder.get('pid', '?')} on "
            f"{holder.get('host', '?')} since {holder.get('started', '?')}, lease renewed "
            f"{_ago(holder.get('renewed'))}); wait for it to finish: its lease expires {self.lifetime:.0f} s after "
            f"its last renewal, or, if that run is known to be gone, delete {self.location}")

    def check(self) -> None:
        """Raise if the lease was lost while the run went on (it must not publish then)."""
        from storage.lock import FolderLocked

        if self.lost:
            raise FolderLocked(f"output {self.location.parent}: {self.lost}; rerun the same command to resume")

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self.held and not self.lost:
            try:
                holder = self._read()
                if holder is not None and holder.get("token") == self._owner["token"]:
                    self.location.delete()
            except Exception as exc:  # the store is down: the run's own error says so; do not mask it
                log.warning("could not delete the lease %s (%s: %s); the next run on this host takes it over, "
                            "one elsewhere after %.0f s", self.location, type(exc).__name__, exc, self.lifetime)
        self.held = False

    # ---- the object ------------------------------------------------------------------------

    def _body(self) -> bytes:
        return json.dumps({**self._owner, "renewed": time.time()}).encode()

    def _create(self) -> bool:
        """Write the lease if there is none; True when it is ours."""
        fs, inner = files.filesystem(self.location)
        try:
            self._etag = _etag(fs.pipe_file(inner, self._body(), mode="create"))
        except (TypeError, NotImplementedError):  # this client makes no conditional put
            if self.location.exists():
                return False
            self.location.write_bytes(self._body())
            time.sleep(1.0)  # a run that wrote at the same instant has overwritten ours by now
        except OSError:  # the condition failed (S3: 412 PreconditionFailed), or the store did
            holder = self._read()
            if holder is None:
                raise
            return holder.get("token") == self._owner["token"]
        holder = self._read()
        return holder is not None and holder.get("token") == self._owner["token"]

    def _read(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.location.read_bytes().decode("utf-8"))
        except FileNotFoundError:
            return None
        except ValueError:  # garbage: treat as held by someone unknown, until it expires
            return {"renewed": None}
        return data if isinstance(data, dict) else {"renewed": None}

    def _stale(self, holder: dict[str, Any]) -> bool:
        from storage.lock import gone_from_this_host

        renewed = holder.get("renewed")
        lifetime = holder.get("lifetime") if isinstance(holder.get("lifetime"), int | float) else self.lifetime
        if not isinstance(renewed, int | float) or time.time() - renewed > lifetime:
            return isinstance(renewed, int | float)
        return gone_from_this_host(holder, self._owner["host"])

    def _take_over(self, holder: dict[str, Any]) -> None:
        """Delete the stale lease we judged, unless it changed since (another run took it over)."""
        if self._read() == holder:
            self.location.delete()

    def _heartbeat(self) -> None:
        last_ok = time.time()
        while not self._stop.wait(self.lifetime / 4):
            try:
                if not self._renew():
                    return
                last_ok = time.time()
            except Exception as exc:  # the store is unreachable: the run's own writes fail too
                if time.time() - last_ok > self.lifetime:
                    self.lost = (f"could not renew the lease {self.location} for {self.lifetime:.0f} s "
                                 f"({type(exc).__name__}: {' '.join(str(exc).split())})")
                    return

    def _renew(self) -> bool:
        """Write the lease again with a new renewal time; False (and `lost` says why) when it is no
        longer ours. Where the store makes conditional puts, the write holds only if the lease is
        still the object we last wrote: a read, then a write, would bring back a lease deleted in
        between, or overwrite the lease of a run that took it over."""
        if self._etag is None:  # no conditional put here: read, then write (a small window remains)
            holder = self._read()
            if holder is None or holder.get("token") != self._owner["token"]:
                self._lose(holder)
                return False
            self.location.write_bytes(self._body())
            return True
        fs, inner = files.filesystem(self.location)
        try:
            self._etag = _etag(fs.pipe_file(inner, self._body(), IfMatch=self._etag))
            return True
        except OSError:  # the lease changed (S3: 412, or 404 once deleted), or the store failed
            try:
                etag = _etag(fs.info(inner))
            except FileNotFoundError:
                etag = None
            holder = self._read()
            if holder is None or holder.get("token") != self._owner["token"]:
                self._lose(holder)
                return False
            self._etag = etag or self._etag  # ours, with another ETag (a put of ours the client retried)
            raise  # counted against the lifetime by the heartbeat; the next renewal may succeed

    def _lose(self, holder: dict[str, Any] | None) -> None:
        who = "removed" if holder is None else f"taken over by pid {holder.get('pid')} on {holder.get('host')}"
        self.lost = f"this run's lease {self.location} was {who}"


def _etag(put_result: Any) -> str | None:
    """The ETag of an s3fs put, the condition of the next one; None from clients that return none."""
    return put_result.get("ETag") if isinstance(put_result, dict) else None


def _ago(renewed: Any) -> str:
    if not isinstance(renewed, int | float):
        return "at an unknown time"
    return f"{max(0.0, time.time() - renewed):.0f} s ago"
