"""Seeded 64-bit keys of document ids: the shuffle order, the validation split and the mix
selection each use their own salt, so that the three choices are independent of each other and
of sharding, worker count and executor (they depend only on the id, the seed and the salt)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from operators.dedup.hashing import fmix64, hash_strings

SHUFFLE = 1
SPLIT = 2
MIX = 3
_COPY_STEP = np.uint64(0x9E3779B97F4A7C15)  # odd: copies of one document get distinct keys


def _salt(seed: int, salt: int) -> np.uint64:
    return fmix64(np.array([(seed * 0x100000001B3 + salt) & ((1 << 64) - 1)], dtype=np.uint64))[0]


def id_keys(ids: pa.Array | pa.ChunkedArray, seed: int, salt: int) -> np.ndarray:
    """uint64 key of each id (null ids hash like the empty string), keyed by (seed, salt)."""
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks() if ids.num_chunks != 1 else ids.chunk(0)
    if not (pa.types.is_string(ids.type) or pa.types.is_large_string(ids.type)):
        ids = ids.cast(pa.string())
    h = hash_strings(ids)
    h ^= _salt(seed, salt)
    return fmix64(h)


def copy_keys(base: np.ndarray, copy: np.ndarray) -> np.ndarray:
    """Key of copy `copy` (0, 1, ...) of a document whose key is `base`: distinct per copy."""
    with np.errstate(over="ignore"):
        return fmix64(base + copy.astype(np.uint64) * _COPY_STEP)


def fraction_threshold(fraction: float) -> int:
    """Keys below this value make up `fraction` of uniformly distributed uint64 keys."""
    return min(int(fraction * 2.0**64), (1 << 64) - 1)
