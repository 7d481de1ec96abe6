"""Atomic writes, reads, listings and deletion for a local path or any fsspec URL.

The one promise: nothing is ever visible under its final name before it is complete. On a local
disk a write goes to a temporary sibling (`.NAME.tmp-PID-RANDOM`) renamed into place on commit;
this module is the only place of the project that renames. On an object store (no rename) the data
is spooled to a local temporary file and uploaded once, under its final key, when complete; a
completion mark written after the data is what resume trusts. Spooled files live in a folder of
the process that writes them (`spool_dir`), which the next process on the machine deletes once
that process is gone: a `kill -9` mid-upload leaves nothing behind for long.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from storage.spool import spool_dir
from storage.whole_get import get_whole

PathLike = str | os.PathLike
TEMP_MARK = ".tmp-"
_uploads = threading.local()  # .queue: the AtomicFiles a `batched_uploads` block has committed


def _text(path: Any) -> str:
    url = getattr(path, "url", None)  # a storage.location.Location (remote ones refuse os.fspath)
    return url if isinstance(url, str) else os.fspath(path)


def _options(path: Any, storage_options: dict[str, Any] | None) -> dict[str, Any] | None:
    return storage_options if storage_options is not None else getattr(path, "options", None)


def is_url(path: PathLike) -> bool:
    """True for `scheme://...` locations other than `file://`."""
    text = _text(path)
    return "://" in text and not text.startswith("file://")


def split_protocol(path: PathLike) -> tuple[str | None, str]:
    """("s3", "bucket/key") for "s3://bucket/key"; (None, path) for a path: as fsspec splits a URL,
    without importing fsspec (a local run does not)."""
    text = _text(path)
    protocol, sep, rest = text.partition("://")
    return (protocol, rest) if sep and len(protocol) > 1 else (None, text)


def local_path(path: PathLike) -> Path:
    text = _text(path)
    return Path(text[len("file://"):] if text.startswith("file://") else text)


def join(base: PathLike, *parts: str) -> str | Path:
    """`base/part/...` for a local path (a Path) or a URL (a str)."""
    if is_url(base):
        return "/".join([_text(base).rstrip("/"), *parts])
    return local_path(base).joinpath(*parts)


def filesystem(path: PathLike, storage_options: dict[str, Any] | None = None) -> tuple[Any, str]:
    """(fsspec filesystem, path inside it) for a URL."""
    import fsspec

    return fsspec.core.url_to_fs(_text(path), **(_options(path, storage_options) or {}))


def _fresh_filesystem(path: PathLike, storage_options: dict[str, Any] | None) -> tuple[Any, str]:
    """The same, with its listing cache dropped for `path`: other processes (workers, another run)
    write there too, and a cached listing would hide their files or show deleted ones."""
    fs, inner = filesystem(path, storage_options)
    fs.invalidate_cache(inner)
    return fs, inner


@contextmanager
def default_options(options: dict[str, Any] | None, protocols: set[str]) -> Iterator[None]:
    """fsspec's per-protocol defaults extended with `options` for a while (options given to a call
    still win key by key): how a recipe's storage settings reach code that opens URLs without them."""
    if not options or not protocols:  # nothing to set (and no fsspec import for a local run)
        yield
        return
    import fsspec.config

    saved = {p: fsspec.config.conf.get(p) for p in protocols}
    set_default_options(options, protocols)
    try:
        yield
    finally:
        for p, before in saved.items():
            if before is None:
                fsspec.config.conf.pop(p, None)
            else:
                fsspec.config.conf[p] = before


def set_default_options(options: dict[str, Any] | None, protocols: set[str]) -> None:
    """The same, for the life of a worker process."""
    if options:
        import fsspec.config

        for p in protocols:
            fsspec.config.conf[p] = {**fsspec.config.conf.get(p, {}), **options}


def temp_name(final_name: str) -> str:
    """The one naming rule for unfinished writes, so cleanup finds every kind of them."""
    return f".{final_name}{TEMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}"


def is_temporary(name: str) -> bool:
    return name.startswith(".") and TEMP_MARK in name


class AtomicFile:
    """A binary file that appears under `path` only on `commit()`; `abort()` leaves no trace.

    Use as a context manager (commit on success, abort on an exception) or call the two verbs."""

    def __init__(self, path: PathLike, storage_options: dict[str, Any] | None = None):
        self.path = path
        self.storage_options = _options(path, storage_options)
        self._done = False
        if is_url(path):
            fd, tmp = tempfile.mkstemp(prefix="upload-", dir=spool_dir())
            self._tmp = Path(tmp)
            self.handle: IO[bytes] = os.fdopen(fd, "wb")
        else:
            final = local_path(path)
            final.parent.mkdir(parents=True, exist_ok=True)
            self._tmp = final.with_name(temp_name(final.name))
            self.handle = open(self._tmp, "wb")  # noqa: SIM115 - closed by commit/abort

    @property
    def temp_path(self) -> Path:
        """Where the bytes are until commit (a local file in every case)."""
        return self._tmp

    def commit(self) -> None:
        if self._done:
            return
        self.handle.close()
        queue = getattr(_uploads, "queue", None) if is_url(self.path) else None
        if queue is not None:  # inside `batched_uploads`: published with the others at its end
            self._done = True
            queue.append(self)
            return
        try:
            if is_url(self.path):
                fs, inner = filesystem(self.path, self.storage_options)
                fs.put_file(str(self._tmp), inner)
                self._tmp.unlink()
            else:
                os.replace(self._tmp, local_path(self.path))
        except BaseException:
            self.abort()
            raise
        self._done = True

    def abort(self) -> None:
        self._done = True
        if not self.handle.closed:
            self.handle.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> IO[bytes]:
        return self.handle

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


@contextmanager
def batched_uploads() -> Iterator[None]:
    """Objects committed in this block (by this thread) are uploaded together at its end, their
    requests in flight at once, instead of one round trip each; on an exception none is. Local
    files are renamed into place at commit as always. Write a completion mark after the block."""
    if getattr(_uploads, "queue", None) is not None:  # nested: the outermost block uploads
        yield
        return
    queue: list[AtomicFile] = []
    _uploads.queue = queue
    try:
        yield
    except BaseException:
        for atomic in queue:
            atomic.abort()
        raise
    finally:
        _uploads.queue = None
    _publish(queue)


def _publish(queue: list[AtomicFile]) -> None:
    """Upload queued files, grouped by file system; every spool file is removed whatever happens."""
    try:
        groups: dict[int, tuple[Any, list[tuple[str, str]]]] = {}
        for atomic in queue:
            fs, inner = filesystem(atomic.path, atomic.storage_options)
            groups.setdefault(id(fs), (fs, []))[1].append((str(atomic.temp_path), inner))
        for fs, pairs in groups.values():
            if getattr(fs, "async_impl", False):
                import fsspec.asyn

                failures = [r for r in fsspec.asyn.sync(fs.loop, _gather_puts, fs, pairs) if isinstance(r, BaseException)]
                if failures:
                    raise failures[0]
            else:
                for local, inner in pairs:
                    fs.put_file(local, inner)
    finally:
        for atomic in queue:
            atomic.temp_path.unlink(missing_ok=True)


async def _gather_puts(fs: Any, pairs: list[tuple[str, str]], batch: int = 32) -> list[Any]:
    import asyncio

    results: list[Any] = []
    for lo in range(0, len(pairs), batch):
        results += await asyncio.gather(*(fs._put_file(lp, rp) for lp, rp in pairs[lo:lo + batch]),
                                        return_exceptions=True)
    return results


def write_bytes(path: PathLike, data: bytes, storage_options: dict[str, Any] | None = None) -> None:
    with AtomicFile(path, storage_options) as handle:
        handle.write(data)


def write_text(path: PathLike, text: str, storage_options: dict[str, Any] | None = None) -> None:
    write_bytes(path, text.encode("utf-8"), storage_options)


def write_json(path: PathLike, data: Any, storage_options: dict[str, Any] | None = None) -> None:
    write_text(path, json.dumps(data, indent=1, sort_keys=True, default=str), storage_options)


def write_table(table: Any, path: PathLike, compression: str | None = "zstd",
                storage_options: dict[str, Any] | None = None) -> None:
    """Write a pyarrow Table as one Parquet file, atomically."""
    import pyarrow.parquet as pq

    with AtomicFile(path, storage_options) as handle:
        pq.write_table(table, handle, compression=None if compression == "none" else compression)


@contextmanager
def staging_file(final: PathLike, storage_options: dict[str, Any] | None = None) -> Iterator[Path]:
    """A local path for a library that writes by file name (fastText, KenLM); on success the file
    it wrote becomes `final`, on an exception it is deleted."""
    atomic = AtomicFile(final, storage_options)
    atomic.handle.close()  # the library writes the temporary by name; commit renames or uploads it
    try:
        yield atomic.temp_path
    except BaseException:
        atomic.abort()
        raise
    atomic.commit()


@contextmanager
def staging_dir(final: PathLike, storage_options: dict[str, Any] | None = None) -> Iterator[Path]:
    """A local folder to fill; on success it replaces `final` whole (a tokenizer, a model).

    Native libraries write into it by plain paths; on an exception it is deleted."""
    remote = is_url(final)
    if remote:
        tmp = Path(tempfile.mkdtemp(prefix="stage-", dir=spool_dir()))
    else:
        target = local_path(final)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(temp_name(target.name))
        tmp.mkdir()
    try:
        yield tmp
        publish_dir(tmp, final, storage_options)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def publish_dir(folder: Path, final: PathLike, storage_options: dict[str, Any] | None = None) -> None:
    """Move a finished local folder to `final`, replacing what was there."""
    if is_url(final):
        fs, inner = filesystem(final, storage_options)
        if fs.exists(inner):
            fs.rm(inner, recursive=True)
        for file in sorted(p for p in folder.rglob("*") if p.is_file()):
            fs.put_file(str(file), f"{inner.rstrip('/')}/{file.relative_to(folder).as_posix()}")
        return
    target = local_path(final)
    if target.exists():  # move the old one aside first: a directory cannot be renamed over another
        aside = target.with_name(temp_name(target.name))
        os.replace(target, aside)
        os.replace(folder, target)
        shutil.rmtree(aside, ignore_errors=True)
    else:
        os.replace(folder, target)


def exists(path: PathLike, storage_options: dict[str, Any] | None = None) -> bool:
    if is_url(path):
        fs, inner = _fresh_filesystem(path, storage_options)
        return bool(fs.exists(inner))
    return local_path(path).exists()


def read_bytes(path: PathLike, storage_options: dict[str, Any] | None = None) -> bytes:
    if is_url(path):
        fs, inner = _fresh_filesystem(path, storage_options)  # s3fs sizes a file from a cached listing
        return get_whole(fs, inner)
    return local_path(path).read_bytes()


def read_prefix(path: PathLike, limit: int, storage_options: dict[str, Any] | None = None) -> bytes:
    """The first `limit` bytes of a file (all of it when shorter), in one request on a store."""
    if is_url(path):
        fs, inner = _fresh_filesystem(path, storage_options)
        return get_whole(fs, inner, limit)
    with open(local_path(path), "rb") as handle:
        return handle.read(limit)


def read_json(path: PathLike, storage_options: dict[str, Any] | None = None) -> Any:
    return json.loads(read_bytes(path, storage_options).decode("utf-8"))


def read_mark(path: PathLike, storage_options: dict[str, Any] | None = None) -> Any | None:
    """A completion mark's content, or None when the work it marks is not done."""
    try:
        return read_json(path, storage_options)
    except FileNotFoundError:
        return None


def open_input(path: PathLike, storage_options: dict[str, Any] | None = None) -> IO[bytes]:
    if is_url(path):
        fs, inner = _fresh_filesystem(path, storage_options)
        return fs.open(inner, "rb")
    return open(local_path(path), "rb")  # noqa: SIM115 - the caller closes it


def list_names(folder: PathLike, storage_options: dict[str, Any] | None = None) -> list[str]:
    """Names of the entries directly in `folder` (none when it does not exist), sorted."""
    if is_url(folder):
        fs, inner = _fresh_filesystem(folder, storage_options)
        try:  # one listing request: no existence check first (a HEAD and a listing more)
            entries = fs.ls(inner, detail=False)
        except FileNotFoundError:
            return []
        own = inner.rstrip("/")  # some stores list a folder's own marker among its entries
        return sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in entries if p.rstrip("/") != own)
    path = local_path(folder)
    return sorted(p.name for p in path.iterdir()) if path.is_dir() else []


def delete(path: PathLike, storage_options: dict[str, Any] | None = None) -> None:
    """Delete a file or a folder and everything in it; nothing to delete is fine."""
    if is_url(path):
        fs, inner = _fresh_filesystem(path, storage_options)
        if fs.exists(inner):
            fs.rm(inner, recursive=True)
        return
    target = local_path(path)
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    else:
        target.unlink(missing_ok=True)


def remove_temporaries(folder: PathLike) -> int:
    """Delete what interrupted writes left under a local folder; returns how many. Object stores
    hold no temporaries (uploads happen whole), so there is nothing to do there."""
    if is_url(folder):
        return 0
    root = local_path(folder)
    if not root.is_dir():
        return 0
    stale = [p for p in root.rglob(f".*{TEMP_MARK}*") if is_temporary(p.name)]
    for p in sorted(stale, key=lambda p: len(p.parts), reverse=True):
        if p.exists():
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
    return len(stale)
