"""An object's bytes (its first `limit` bytes) in one request, for the one-at-a-time reads
(storage.files) and the many-at-once ones (storage.many) alike: a plain read costs s3fs a HEAD
(for the size) before the GET; an open-ended range does not. A store that refuses the range (S3
does for an empty object) gets the plain read."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any


async def get_whole_async(fs: Any, inner: str, limit: int | None = None) -> bytes:
    cat: Callable[..., Awaitable[bytes]] = fs._cat_file if getattr(fs, "async_impl", False) else _awaitable(fs.cat_file)
    try:
        return await cat(inner, start=0, end=limit)
    except FileNotFoundError:
        raise
    except OSError:
        data = await cat(inner)
        return data if limit is None else data[:limit]


def get_whole(fs: Any, inner: str, limit: int | None = None) -> bytes:
    if getattr(fs, "async_impl", False):  # on the filesystem's loop, as its own `cat_file` runs
        import fsspec.asyn

        return fsspec.asyn.sync(fs.loop, get_whole_async, fs, inner, limit)
    # a synchronous filesystem's reads never suspend the coroutine: one step runs it to its end
    coroutine = get_whole_async(fs, inner, limit)
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise RuntimeError(f"reading {inner} from a synchronous filesystem waited on something")


def _awaitable(call: Callable[..., bytes]) -> Callable[..., Awaitable[bytes]]:
    async def run(*args: Any, **kwargs: Any) -> bytes:
        return call(*args, **kwargs)

    return run
