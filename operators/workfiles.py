"""Reading the files stages hand to each other, in a work folder on local disk or on an object
store (a `storage.location.Location`). Writes go through `Location` / `storage.files` (atomic on
both); the reads here take the native path when the folder is local, so local runs pay nothing
for the object-store case (Arrow reads a local file by name, not through a Python handle)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from storage import files
from storage.location import Location


def location(where: str | os.PathLike | Location) -> Location:
    """A Location for a path, a URL or a Location (credentials of a bare URL: the usual environment)."""
    return where if isinstance(where, Location) else Location(where)


def read_parquet(where: Location, columns: list[str] | None = None, schema: pa.Schema | None = None) -> pa.Table:
    return location(where).read_table(columns, schema)


def parquet_rows(where: Location) -> int:
    """The row count of a Parquet file, from its footer."""
    with location(where).reader() as source:
        return pq.read_metadata(source).num_rows


def file_names(folder: Location, prefix: str = "", suffix: str = "") -> list[str]:
    """Sorted names of the finished files directly in `folder` (none when it does not exist)."""
    return [n for n in location(folder).list_names() if n.startswith(prefix) and n.endswith(suffix) and not files.is_temporary(n)]


def has_files(folder: Location) -> bool:
    """Whether any finished file is under `folder`. Not `exists()`: an object store that is a file
    system underneath (SeaweedFS, MinIO on a disk) may keep listing a folder whose files were deleted."""
    return bool(location(folder).walk())


def save_npy(where: Location, array: np.ndarray) -> None:
    with location(where).atomic() as handle:
        np.save(handle, array)


def load_npy(where: Location) -> np.ndarray:
    with location(where).reader() as source:
        return np.load(source)


@contextmanager
def local_folder(where: Location) -> Iterator[Path]:
    """A local folder for a library that writes files by name: the folder itself when local (each
    file is written there atomically by the caller), else a staging folder uploaded whole when
    the block completes (nothing is uploaded on an exception)."""
    if not where.is_remote:
        where.mkdir()
        yield where.path
        return
    with where.staging_dir() as tmp:
        yield tmp


def download(where: Location, target: Path) -> Path:
    """Copy a (remote) file to a local path, streaming; returns `target`."""
    with where.open() as src, open(target, "wb") as out:
        shutil.copyfileobj(src, out, 1 << 22)
    return target

