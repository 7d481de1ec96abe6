"""Input shards: expanding the recipe's input paths to an ordered list of files with unique names.

A shard's name names its output files (`<name>.parquet`, `rejected/.../<name>.parquet`, ...), so
two inputs never share one: same file names in different folders get the folder as a prefix,
same stems in one folder (`part-0.parquet`, `part-0.jsonl`) keep their suffix (`part-0_parquet`),
and names that still collide are refused naming both files.
"""

from __future__ import annotations

import os
import posixpath
import stat
from dataclasses import dataclass, field
from typing import Any

from storage.columns import SHARD_BITS

SUFFIXES = (".jsonl.gz", ".jsonl.zst", ".json.gz", ".json.zst", ".jsonl", ".json", ".parquet", ".pq")


class InputError(ValueError):
    """A problem with the input, naming where it is."""


@dataclass(frozen=True)
class Shard:
    index: int
    path: str
    name: str
    size: int | None = field(default=None, compare=False)  # bytes, from the listing (no request more)

    @property
    def format(self) -> str:
        return "parquet" if self.path.endswith((".parquet", ".pq")) else "jsonl"


@dataclass
class Quarantined:
    file: str
    row: int
    field: str
    reason: str
    raw: str


def _expand(spec_path: str, storage_options: dict[str, Any]) -> dict[str, int | None]:
    """The files a path names, sorted, with their sizes as the listing gives them."""
    if _plain_local_file(spec_path):  # no listing to do: no fsspec (its import is a twentieth of a small run)
        check_regular_file(spec_path)
        return {spec_path: os.stat(spec_path).st_size} if spec_path.endswith(SUFFIXES) else {}
    import fsspec

    fs, path = fsspec.core.url_to_fs(spec_path, **(storage_options or {}))
    protocol = fs.protocol[0] if isinstance(fs.protocol, tuple) else fs.protocol
    if any(ch in spec_path for ch in "*?["):
        listed = fs.glob(path, detail=True)
    else:
        if not fs.exists(path):
            raise InputError(f"not found: {spec_path}")
        listed = fs.find(path, detail=True) if fs.isdir(path) else {path: fs.info(path)}
    found = {p: _size(listed[p]) for p in sorted(listed) if p.endswith(SUFFIXES)}
    if protocol in ("file", "local"):
        for p in found:
            check_regular_file(p)
        return found
    return {f"{protocol}://{p}": size for p, size in found.items()}


def _plain_local_file(path: str) -> bool:
    """An absolute, normalized local path of an existing file, without glob characters: named as
    fsspec's local listing would name it."""
    return ("://" not in path and os.path.isabs(path) and os.path.normpath(path) == path
            and not any(ch in path for ch in "*?[") and os.path.isfile(path))


def _size(info: Any) -> int | None:
    size = info.get("size") if isinstance(info, dict) else None
    return int(size) if isinstance(size, int | float) else None


def check_regular_file(path: str) -> None:
    """A FIFO would block and a device (`/dev/zero`) never ends: only regular files are read
    (a symbolic link to a regular file is one)."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    if not stat.S_ISREG(mode):
        kind = "a FIFO" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else \
            "a directory" if stat.S_ISDIR(mode) else "a socket" if stat.S_ISSOCK(mode) else "special"
        raise InputError(f"{path}: not a regular file ({kind}); only regular files are read")


def list_shards(spec: Any) -> list[Shard]:
    """Expand the input spec to an ordered list of shards with unique names."""
    raw = spec.path if isinstance(spec.path, list) else [spec.path]
    paths: list[str] = []
    sizes: dict[str, int | None] = {}
    for p in raw:
        try:
            found = _expand(p, spec.storage_options)
        except InputError:
            raise
        except Exception as exc:  # fsspec raises many kinds; name the path in every case
            raise InputError(f"cannot list {p}: {type(exc).__name__}: {exc}") from exc
        if not found:
            raise InputError(f"no .parquet/.jsonl(.gz/.zst) files match {p}")
        paths += [f for f in found if f not in sizes]
        sizes = {**found, **sizes}
    if len(paths) >= 1 << (63 - SHARD_BITS):
        raise InputError(f"too many input files ({len(paths)})")
    names = shard_names(paths)
    return [Shard(i, p, n, sizes[p]) for i, (p, n) in enumerate(zip(paths, names, strict=True))]


def shard_names(paths: list[str]) -> list[str]:
    """Readable, deterministic, unique: the stem; then the parent folders for stems found in
    several folders; then the suffix for stems found twice in one folder."""
    names = [_stem(p) for p in paths]
    parents = [posixpath.dirname(p.split("://", 1)[-1]).strip("/") for p in paths]
    groups: dict[str, set[str]] = {}
    for name, parent in zip(names, parents, strict=True):
        groups.setdefault(name, set()).add(parent)
    for i in _colliding(names):
        if len(groups[names[i]]) > 1:  # found in several folders
            names[i] = f"{parents[i].replace('/', '__')}__{names[i]}"
    for i in _colliding(names):
        names[i] = f"{names[i]}_{_suffix(paths[i]).lstrip('.').replace('.', '_')}"
    first: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in first:
            raise InputError(f"{paths[first[name]]} and {paths[i]} would both write the output shard {name!r}; "
                             "rename one of them")
        first[name] = i
    return names


def _colliding(names: list[str]) -> list[int]:
    counts: dict[str, int] = {}
    for n in names:
        counts[n] = counts.get(n, 0) + 1
    return [i for i, n in enumerate(names) if counts[n] > 1]


def _suffix(path: str) -> str:
    base = posixpath.basename(path)
    return next((suf for suf in SUFFIXES if base.endswith(suf)), "")


def _stem(path: str) -> str:
    base = posixpath.basename(path)
    suf = _suffix(path)
    return base[: -len(suf)] if suf else base


def open_input(path: str, storage_options: dict[str, Any] | None) -> Any:
    """An input file opened for binary reading: a local one directly (fsspec's import is a
    twentieth of a small run), a URL through fsspec. The caller closes it."""
    if "://" not in path:
        return open(path, "rb")  # noqa: SIM115
    import fsspec

    return fsspec.open(path, "rb", **(storage_options or {})).open()
