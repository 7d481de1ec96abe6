"""Where files on their way to an object store wait: a folder per process in the temporary folder
(TMPDIR), `pipeline-spool-<uid>/<pid>-<process start>/`, which the next process on the machine
deletes once that process is gone, so a `kill -9` mid-upload leaves nothing behind for long.
Nothing else under the root is ever touched."""

from __future__ import annotations

import atexit
import errno
import os
import re
import shutil
import socket
import stat
import tempfile
from pathlib import Path

SPOOL_ROOT = "pipeline-spool-"  # + uid: <tmp>/pipeline-spool-<uid>/<pid>-<process start>/
_SPOOL_NAME = re.compile(r"^(\d+)-(\d+|x)$")
_spool: tuple[int, Path] | None = None  # (pid, folder): a forked child makes its own


def spool_dir() -> Path:
    """This process's folder for files on their way to a store (made on first use, in the
    temporary folder: TMPDIR). Making it first deletes the folders of this user's processes that
    are gone (killed mid-upload): named by pid and process start, so a reused pid is told apart.
    Nothing else under the root is touched."""
    global _spool
    from storage.lock import _process_start

    pid = os.getpid()
    if _spool is not None and _spool[0] == pid and _spool[1].is_dir():
        return _spool[1]
    root = Path(tempfile.gettempdir()) / f"{SPOOL_ROOT}{os.getuid()}"
    root.mkdir(mode=0o700, exist_ok=True)
    info = os.lstat(root)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():  # another user's, or a symlink
        raise PermissionError(f"{root} is not a folder of this user: delete it, or set TMPDIR to another folder")
    _remove_spools_of_gone_processes(root)
    folder = root / f"{pid}-{_process_start(pid) or 'x'}"
    folder.mkdir(mode=0o700, exist_ok=True)
    if _spool is None:
        atexit.register(_remove_own_spool)
    _spool = (pid, folder)
    return folder


def _remove_spools_of_gone_processes(root: Path) -> None:
    from storage.lock import gone_from_this_host

    host = socket.gethostname()
    for entry in root.iterdir():
        match = _SPOOL_NAME.match(entry.name)
        if not match or entry.is_symlink() or not entry.is_dir():
            continue
        pid, start = int(match.group(1)), match.group(2)
        if gone_from_this_host({"host": host, "pid": pid, "pid_start": None if start == "x" else start}, host):
            _remove_tree(entry)


def _remove_tree(folder: Path) -> None:
    """rmtree that lets another process remove the same folder at the same time."""
    for _ in range(3):
        try:
            shutil.rmtree(folder)
            return
        except FileNotFoundError:  # a file or the folder went meanwhile: look again
            if not folder.exists():
                return
    shutil.rmtree(folder)


def _remove_own_spool() -> None:
    """At a normal exit: this process's spool folder, if it holds nothing (a thread still
    uploading keeps it; the next process removes it), and those of processes gone meanwhile (a
    driver outlives its workers)."""
    if _spool is not None and _spool[0] == os.getpid() and _spool[1].parent.is_dir():
        _remove_spools_of_gone_processes(_spool[1].parent)
        try:
            _spool[1].rmdir()
        except OSError as exc:  # not empty, or already gone: left to the next process's sweep
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT):
                raise
