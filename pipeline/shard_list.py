"""The run's input shards, written once under `_work/` and read by tasks that need them all.

A task's argument used to carry the whole list (every shard task the names, for global steps'
contexts; every stage task the `Shard`s): pickled with each task, 7 ms a task and growing with
the files (bench/RESULTS.md "Task arguments"). Now the driver writes the list once per run, as a
file named after the hash of its bytes (`_work/shards-<hash>.json`: write-once, since the same name
always holds the same bytes), and a task carries only a `ShardListRef`. A worker reads the file
the first time it needs it and keeps it for the process, keyed by its place and hash, so a later
run in the same folder with other files (another hash) never sees a stale list; the bytes read
are checked against the hash.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass

from pipeline.io.readers import Shard
from pipeline.plan import Layout
from storage.location import Location

CACHED_LISTS = 2  # lists a process keeps: a Ray worker may serve two runs in turn


@dataclass(frozen=True)
class ShardListRef:
    """Where the run's shard list is (under the layout's `_work/`), its hash and length."""

    digest: str
    count: int

    def location(self, layout: Layout) -> Location:
        return layout.work / f"{PREFIX}{self.digest[:32]}.json"


PREFIX = "shards-"


def is_shard_list(name: str) -> bool:
    """A shard list's file name under `_work/` (deleted with the work data after a run)."""
    return name.startswith(PREFIX) and name.endswith(".json") and "/" not in name


_cache: OrderedDict[tuple[str, str], tuple[list[Shard], list[str]]] = OrderedDict()
_lock = threading.Lock()


def encode(shards: list[Shard]) -> bytes:
    """Deterministic bytes: [path, name, size] per shard, in order (the index is the position)."""
    return json.dumps({"format": 1, "shards": [[s.path, s.name, s.size] for s in shards]},
                      separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _decode(data: bytes) -> list[Shard]:
    rows = json.loads(data.decode("utf-8"))["shards"]
    return [Shard(i, path, name, size) for i, (path, name, size) in enumerate(rows)]


def _remember(key: tuple[str, str], shards: list[Shard]) -> tuple[list[Shard], list[str]]:
    entry = (shards, [s.name for s in shards])
    with _lock:
        _cache[key] = entry
        _cache.move_to_end(key)
        while len(_cache) > CACHED_LISTS:
            _cache.popitem(last=False)
    return entry


def write_shard_list(layout: Layout, shards: list[Shard]) -> ShardListRef:
    """Write the list unless a run of the same files already did (resume); keep it in this
    process too (a one-worker run runs its tasks in the driver)."""
    data = encode(shards)
    ref = ShardListRef(hashlib.sha256(data).hexdigest(), len(shards))
    place = ref.location(layout)
    if not place.exists():
        place.write_bytes(data)
    _remember((place.url, ref.digest), shards)
    return ref


def load_shards(ref: ShardListRef, layout: Layout) -> list[Shard]:
    """The run's shards, read once a process (checked against the hash)."""
    return _load(ref, layout)[0]


def load_shard_names(ref: ShardListRef, layout: Layout) -> list[str]:
    """The run's shard names, in order (a global step's `StageContext.shard_names`)."""
    return _load(ref, layout)[1]


def _load(ref: ShardListRef, layout: Layout) -> tuple[list[Shard], list[str]]:
    place = ref.location(layout)
    key = (place.url, ref.digest)
    with _lock:
        found = _cache.get(key)
    if found is not None:
        return found
    data = place.read_bytes()
    if hashlib.sha256(data).hexdigest() != ref.digest:
        raise RuntimeError(f"{place}: the run's shard list does not match its hash {ref.digest[:16]}; "
                           f"the output folder was changed by something else during the run")
    shards = _decode(data)
    if len(shards) != ref.count:  # the hash matched: only a bug gets here
        raise RuntimeError(f"{place}: {len(shards)} shards, {ref.count} expected")
    return _remember(key, shards)
