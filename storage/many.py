"""Many files at once on an object store: reads whose requests go out together (one round trip
for all, where one at a time their latencies add up) and deletions in bulk requests. Local paths
are read and deleted one by one, as `storage.files` does."""

from __future__ import annotations

import json
from typing import Any

from storage.files import PathLike, _fresh_filesystem, filesystem, is_url, local_path
from storage.whole_get import get_whole, get_whole_async


def read_many(paths: list[PathLike], storage_options: dict[str, Any] | None = None) -> list[bytes | None]:
    """The bytes of many files, None for those absent: on an object store the requests go out
    together (one round trip for all, where one at a time their latencies add up)."""
    found: list[bytes | None] = [None] * len(paths)
    groups: dict[int, tuple[Any, list[tuple[int, str]]]] = {}
    for i, path in enumerate(paths):
        if not is_url(path):
            try:
                found[i] = local_path(path).read_bytes()
            except FileNotFoundError:
                pass
            continue
        fs, inner = _fresh_filesystem(path, storage_options)
        groups.setdefault(id(fs), (fs, []))[1].append((i, inner))
    for fs, items in groups.values():
        if getattr(fs, "async_impl", False):
            import fsspec.asyn

            results = fsspec.asyn.sync(fs.loop, _gather_gets, fs, [inner for _, inner in items])
        else:
            results = []
            for _, inner in items:
                try:
                    results.append(get_whole(fs, inner))
                except FileNotFoundError as exc:
                    results.append(exc)
        for (i, _), data in zip(items, results, strict=True):
            if isinstance(data, FileNotFoundError):
                continue
            if isinstance(data, BaseException):
                raise data
            found[i] = data
    return found


def read_marks(paths: list[PathLike], storage_options: dict[str, Any] | None = None) -> list[Any | None]:
    """Many completion marks (JSON), each None when absent, read together (`read_many`): a run's
    stats read hundreds of marks."""
    return [None if data is None else json.loads(data.decode("utf-8")) for data in read_many(paths, storage_options)]


async def _gather_gets(fs: Any, inners: list[str], batch: int = 64) -> list[Any]:
    import asyncio

    results: list[Any] = []
    for lo in range(0, len(inners), batch):
        results += await asyncio.gather(*(get_whole_async(fs, p) for p in inners[lo:lo + batch]), return_exceptions=True)
    return results


def delete_files(paths: list[PathLike], storage_options: dict[str, Any] | None = None) -> None:
    """Delete files (not folders) known to exist, e.g. from a listing; on an object store in bulk
    requests of up to 1,000 keys, where deleting one by one costs a round trip each."""
    groups: dict[int, tuple[Any, list[str]]] = {}
    for path in paths:
        if not is_url(path):
            local_path(path).unlink(missing_ok=True)
            continue
        fs, inner = filesystem(path, storage_options)
        groups.setdefault(id(fs), (fs, []))[1].append(inner)
    for fs, inners in groups.values():
        fs.rm(inners)
