"""Local copies of remote files and folders, for native libraries that open files by name
(fastText, KenLM, SentencePiece). One download per node: the copy is keyed by the remote
objects' identity (paths, sizes, ETags or checksums), and a file lock makes concurrent worker
processes wait for the first one instead of downloading again."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from storage import files

DONE = ".complete"


def cache_root() -> Path:
    return Path(os.environ.get("PIPELINE_CACHE", Path.home() / ".cache" / "pipeline")) / "remote"


def _identity(fs: Any, inner: str) -> tuple[list[tuple[str, int, str]], bool]:
    """(relative name, size, version tag) of every object under `inner`, and whether it is a folder."""
    info = fs.info(inner)
    is_dir = info.get("type") == "directory"
    entries = fs.find(inner, detail=True) if is_dir else {inner: info}
    out = []
    for path, meta in sorted(entries.items()):
        tag = str(meta.get("ETag") or meta.get("etag") or meta.get("md5Hash") or meta.get("mtime")
                  or meta.get("LastModified") or meta.get("created") or "")
        rel = path[len(inner.rstrip("/")) + 1:] if is_dir else Path(path).name
        out.append((rel, int(meta.get("size") or 0), tag))
    return out, is_dir


def _remove_stale_staging(root: Path, key: str) -> None:
    """Staging folders of `key` that a process killed mid-download left (`files.staging_dir`):
    called under the key's lock, which a live download holds, so none of them is in use."""
    for entry in root.glob(f".{key}{files.TEMP_MARK}*"):
        if files.is_temporary(entry.name):
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()


def local_copy(path: files.PathLike, storage_options: dict[str, Any] | None = None) -> Path:
    """A local path holding the same bytes as `path` (itself when already local)."""
    if not files.is_url(path):
        return files.local_path(path)
    fs, inner = files.filesystem(path, storage_options)
    if not fs.exists(inner):
        raise FileNotFoundError(f"{path}: not found")
    listing, is_dir = _identity(fs, inner)
    key = hashlib.sha256(json.dumps([os.fspath(path), listing]).encode()).hexdigest()[:24]
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    folder = root / key
    with open(root / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the first process downloads; the others wait, then reuse
        _remove_stale_staging(root, key)
        if not (folder / DONE).exists():
            with files.staging_dir(folder) as tmp:
                for rel, _, _ in listing:
                    target = tmp / rel
                    target.parent.mkdir(parents=True, exist_ok=True)
                    fs.get_file(f"{inner.rstrip('/')}/{rel}" if is_dir else inner, str(target))
                (tmp / DONE).write_text(json.dumps({"source": os.fspath(path), "files": listing}))
    if is_dir:
        return folder
    return folder / listing[0][0]
