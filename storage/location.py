"""Where a file of a run lives: a local path or any fsspec URL (`s3://`, `gs://`, `memory://`),
together with the connection settings that reach it.

A `Location` joins like a `Path` (`out / "_work" / "seg0"`) and carries its storage options to
every place derived from it, so code that writes under the output folder never has to pass
credentials around. Every verb goes through `storage.files`, so the atomic-write promise holds
on both kinds. A remote location refuses `os.fspath` (a native library handed it would create a
local folder named `s3:`): use `local_copy` (storage.cache) or `files.staging_*` instead. The
storage options (which may hold secrets) never appear in `str`, `repr` or pickled task names.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

SMALL_OBJECT = 4 << 20  # read whole in one request (a spill file, a mark, a small shard)


class Location:
    __slots__ = ("url", "options")

    def __init__(self, where: str | os.PathLike | Location, options: dict[str, Any] | None = None):
        from storage import files

        if isinstance(where, Location):
            self.url: str = where.url
            self.options: dict[str, Any] | None = options if options is not None else where.options
            return
        text = os.fspath(where)
        if files.is_url(text):
            self.url = text.rstrip("/") if not text.endswith("://") else text
        else:
            self.url = os.path.abspath(os.path.expanduser(str(files.local_path(text))))
        self.options = options or None

    # ---- naming ----------------------------------------------------------------------------

    @property
    def is_remote(self) -> bool:
        return "://" in self.url

    @property
    def name(self) -> str:
        return self.url.rstrip("/").rsplit("/", 1)[-1]

    @property
    def parent(self) -> Location:
        head = self.url.rstrip("/").rsplit("/", 1)[0]
        if self.is_remote and head.endswith(":/"):  # "s3://bucket" has no parent inside the store
            return self
        return Location(head or "/", self.options)

    @property
    def path(self) -> Path:
        """The local path; a remote location has none."""
        if self.is_remote:
            raise TypeError(f"{self.url} is on an object store, not a local path: read or write it through "
                            f"storage.files (or storage.cache.local_copy for a native library)")
        return Path(self.url)

    def __truediv__(self, part: str) -> Location:
        part = str(part).strip("/")
        return Location(f"{self.url.rstrip('/')}/{part}" if part else self.url, self.options)

    def joinpath(self, *parts: str) -> Location:
        loc = self
        for p in parts:
            loc = loc / p
        return loc

    def relative_to(self, base: Location) -> str:
        prefix = base.url.rstrip("/") + "/"
        if not self.url.startswith(prefix):
            raise ValueError(f"{self.url} is not under {base.url}")
        return self.url[len(prefix):]

    def __fspath__(self) -> str:
        return str(self.path)

    def __str__(self) -> str:
        return self.url

    def __repr__(self) -> str:  # never the options: they may hold credentials
        return f"Location({self.url!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Location) and other.url == self.url

    def __hash__(self) -> int:
        return hash(self.url)

    def __getstate__(self) -> tuple[str, dict[str, Any] | None]:
        return self.url, self.options

    def __setstate__(self, state: tuple[str, dict[str, Any] | None]) -> None:
        self.url, self.options = state

    # ---- verbs (all through storage.files) ---------------------------------------------------

    def exists(self) -> bool:
        from storage import files

        return files.exists(self.url, self.options)

    def mkdir(self, parents: bool = True, exist_ok: bool = True) -> None:
        """Create a local folder (and its parents); an object store has no folders to create.
        (Path's keywords are accepted, so code written for a Path keeps working.)"""
        if not self.is_remote:
            self.path.mkdir(parents=True, exist_ok=True)

    def read_bytes(self) -> bytes:
        from storage import files

        return files.read_bytes(self.url, self.options)

    def read_text(self) -> str:
        return self.read_bytes().decode("utf-8")

    def read_json(self) -> Any:
        from storage import files

        return files.read_json(self.url, self.options)

    def read_mark(self) -> Any | None:
        from storage import files

        return files.read_mark(self.url, self.options)

    def open(self) -> IO[bytes]:
        """A binary reader (the caller closes it)."""
        from storage import files

        return files.open_input(self.url, self.options)

    @contextmanager
    def reader(self) -> Iterator[str | IO[bytes]]:
        """What Arrow and NumPy read from: the local path itself (native reads, no Python file
        object on the hot path); on an object store the bytes of a small object (one request,
        where opening a handle costs a HEAD and then reads), else an open handle."""
        if not self.is_remote:
            yield self.url
            return
        from storage import files

        head = files.read_prefix(self.url, SMALL_OBJECT, self.options)
        if len(head) < SMALL_OBJECT:
            yield io.BytesIO(head)
            return
        with self.open() as handle:
            yield handle

    def read_table(self, columns: list[str] | None = None, schema: Any = None) -> Any:
        import pyarrow.parquet as pq

        with self.reader() as source:
            return pq.read_table(source, columns=columns, schema=schema)

    def list_names(self) -> list[str]:
        from storage import files

        return files.list_names(self.url, self.options)

    def walk(self) -> list[str]:
        """Paths (relative, with "/") of every file under this folder, sorted; none when absent.
        Unfinished writes (temporaries) are not listed."""
        from storage import files

        if not self.is_remote:
            root = self.path
            found = [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()] if root.is_dir() else []
        else:
            fs, inner = files.filesystem(self.url, self.options)
            fs.invalidate_cache()  # other processes write here
            prefix = inner.rstrip("/") + "/"
            found = [p[len(prefix):] for p in fs.find(inner) if p.startswith(prefix)]  # nothing there: []
        return sorted(p for p in found if not files.is_temporary(p.rsplit("/", 1)[-1]))

    def iterdir(self) -> Iterator[Location]:
        for name in self.list_names():
            yield self / name

    def delete(self) -> None:
        from storage import files

        files.delete(self.url, self.options)

    def atomic(self) -> Any:
        """An AtomicFile for this location (commit publishes it, abort leaves nothing)."""
        from storage import files

        return files.AtomicFile(self.url, self.options)

    def write_bytes(self, data: bytes) -> None:
        from storage import files

        files.write_bytes(self.url, data, self.options)

    def write_text(self, text: str) -> None:
        from storage import files

        files.write_text(self.url, text, self.options)

    def write_json(self, data: Any) -> None:
        from storage import files

        files.write_json(self.url, data, self.options)

    def write_table(self, table: Any, compression: str | None = "zstd") -> None:
        from storage import files

        files.write_table(table, self.url, compression, self.options)

    @contextmanager
    def staging_file(self) -> Iterator[Path]:
        from storage import files

        with files.staging_file(self.url, self.options) as tmp:
            yield tmp

    @contextmanager
    def staging_dir(self) -> Iterator[Path]:
        from storage import files

        with files.staging_dir(self.url, self.options) as tmp:
            yield tmp

    def local_copy(self) -> Path:
        """A local path to read this file or folder by name (remote ones are cached per node)."""
        if not self.is_remote:
            return self.path
        from storage.cache import local_copy

        return local_copy(self.url, self.options)


def read_marks(marks: list[Location]) -> list[Any | None]:
    """The completion marks at `marks` (None where absent), fetched together on a store."""
    from storage import many

    return many.read_marks(list(marks))
