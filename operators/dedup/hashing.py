"""Vectorized text hashing shared by the dedup operators: normalized words, 64-bit hashes of
strings and of word windows (n-grams), computed with numpy over whole batches.

String hash (`hash_strings`): a polynomial over the UTF-8 bytes of each string in a fixed odd
base, modulo 2**64, finished with the MurmurHash3 64-bit finalizer (`fmix64`) mixed with the
length. Window hash (`window_hashes`): the same kind of polynomial over the word hashes of the
window, finalized with its length. Both are computed with prefix sums over a whole batch, so
the cost is a few numpy passes per byte and per word, never a Python loop per word or shingle.

The definitions are simple enough to restate in pure Python (see `py_string_hash` and
`py_window_hash`), which is what the tests compare against and what makes these hashes usable as
a `hashfunc` for datasketch.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

MASK64 = (1 << 64) - 1
# Bases of the two polynomials: odd, so invertible modulo 2**64 (prefix sums need the inverse).
BYTE_BASE = 0x100000001B3  # the 64-bit FNV prime
WORD_BASE = 0x9E3779B97F4A7C15  # 2**64 / golden ratio, odd
BYTE_BASE_INV = pow(BYTE_BASE, -1, 1 << 64)
WORD_BASE_INV = pow(WORD_BASE, -1, 1 << 64)
LEN_MIX = 0xC2B2AE3D27D4EB4F  # multiplies lengths into the hash before finalizing

PUNCTUATION = r"[\p{P}\p{S}]"

_U = np.uint64


def fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finalizer, a bijection that avalanches every input bit (in place)."""
    h ^= h >> _U(33)
    h *= _U(0xFF51AFD7ED558CCD)
    h ^= h >> _U(33)
    h *= _U(0xC4CEB9FE1A85EC53)
    h ^= h >> _U(33)
    return h


def fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer (the pre-mix datasketch's affine schemes apply)."""
    h = h.astype(np.uint32, copy=True)
    h ^= h >> np.uint32(16)
    h *= np.uint32(0x85EBCA6B)
    h ^= h >> np.uint32(13)
    h *= np.uint32(0xC2B2AE35)
    h ^= h >> np.uint32(16)
    return h


class _PowerTable:
    """base**i mod 2**64 for i < n, grown on demand (one per base, per process)."""

    def __init__(self, base: int):
        self.base = base
        self.table = np.ones(1, dtype=np.uint64)

    def __getitem__(self, n: int) -> np.ndarray:
        if len(self.table) < n:
            size = max(n, 2 * len(self.table))
            powers = np.full(size, self.base, dtype=np.uint64)
            powers[0] = 1
            with np.errstate(over="ignore"):
                self.table = np.cumprod(powers, dtype=np.uint64)
        return self.table[:n]


_BYTE_POW = _PowerTable(BYTE_BASE)
_BYTE_POW_INV = _PowerTable(BYTE_BASE_INV)
_WORD_POW = _PowerTable(WORD_BASE)
_WORD_POW_INV = _PowerTable(WORD_BASE_INV)


def normalize_text(text: pa.Array | pa.ChunkedArray, lowercase: bool = True, strip_punctuation: bool = True,
                   unicode_form: str | None = None) -> pa.Array:
    """The text that 'the same words' is judged on: optional Unicode normalization, lowercase,
    punctuation and symbols (Unicode P* and S*) replaced by spaces. Null becomes empty."""
    t = pc.fill_null(text, "")
    if isinstance(t, pa.ChunkedArray):
        t = t.combine_chunks() if t.num_chunks != 1 else t.chunk(0)
    if unicode_form:
        t = pc.utf8_normalize(t, form=unicode_form)
    if lowercase:
        t = pc.utf8_lower(t)
    if strip_punctuation:
        t = pc.replace_substring_regex(t, PUNCTUATION, " ")
    return t


def split_words(text: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Whitespace-split words of every string: (flat string array of words, doc offsets into it).
    Null and blank strings have no words."""
    words, offsets, nonempty = _split(text)
    if nonempty is None:
        return words, offsets
    return words.filter(pa.array(nonempty)), _reoffset(offsets, nonempty)


def _split(text: pa.Array) -> tuple[pa.Array, np.ndarray, np.ndarray | None]:
    """Split on whitespace; pyarrow yields empty strings around leading/trailing whitespace
    (and for a blank string), so also return which words are real (None: all of them)."""
    lists = pc.utf8_split_whitespace(text)
    if isinstance(lists, pa.ChunkedArray):
        lists = lists.combine_chunks()
    offsets = np.asarray(lists.offsets, dtype=np.int64)
    words = lists.values.slice(int(offsets[0]), int(offsets[-1] - offsets[0])) if len(lists) else lists.values.slice(0, 0)
    offsets = offsets - offsets[0]
    lengths = np.diff(_string_buffers(words)[1])
    nonempty = lengths > 0
    return words, offsets, (None if nonempty.all() else nonempty)


def _reoffset(offsets: np.ndarray, keep: np.ndarray) -> np.ndarray:
    kept_before = np.zeros(len(keep) + 1, dtype=np.int64)
    np.cumsum(keep, out=kept_before[1:])
    return kept_before[offsets]


def word_hashes(text: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of the whitespace-split words of every string: (hashes, doc offsets)."""
    words, offsets, nonempty = _split(text)
    hashes = hash_strings(words)
    if nonempty is None:
        return hashes, offsets
    return hashes[nonempty], _reoffset(offsets, nonempty)


def _string_buffers(strings: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 bytes, int64 offsets) of a string array, without copying the bytes."""
    if isinstance(strings, pa.ChunkedArray):
        strings = strings.combine_chunks()
    if pa.types.is_large_string(strings.type) or pa.types.is_large_binary(strings.type):
        off_type = np.int64
    elif pa.types.is_string(strings.type) or pa.types.is_binary(strings.type):
        off_type = np.int32
    else:
        raise TypeError(f"expected a string array, got {strings.type}")
    bufs = strings.buffers()
    n = len(strings)
    offsets = np.frombuffer(bufs[1], dtype=off_type, count=strings.offset + n + 1)[strings.offset:].astype(np.int64)
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
    return data, offsets


def hash_strings(strings: pa.Array) -> np.ndarray:
    """64-bit hash of each string's UTF-8 bytes (null hashes like the empty string).

    h(s) = fmix64(sum_k s[k] * BYTE_BASE_INV**k + len(s) * LEN_MIX)  (mod 2**64)
    computed for all strings at once from one prefix sum over the bytes.
    """
    data, offsets = _string_buffers(strings)
    n = len(offsets) - 1
    if n == 0:
        return np.zeros(0, dtype=np.uint64)
    lo, hi = int(offsets[0]), int(offsets[-1])
    local = offsets - lo
    with np.errstate(over="ignore"):
        weighted = data[lo:hi].astype(np.uint64) * _BYTE_POW_INV[hi - lo]
        prefix = np.empty(hi - lo + 1, dtype=np.uint64)
        prefix[0] = 0
        np.cumsum(weighted, out=prefix[1:])
        starts = local[:-1]
        # sum over [start, end) of b * inv**pos, shifted back to start at power 0
        h = (prefix[local[1:]] - prefix[starts]) * _BYTE_POW[hi - lo + 1][starts]
        h += np.diff(local).astype(np.uint64) * _U(LEN_MIX)
    return fmix64(h)


def window_hashes(word_hashes: np.ndarray, doc_offsets: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of every window of `n` consecutive words of each document.

    A document with fewer than `n` (but at least one) words gives one window, all its words; an
    empty document gives none. Returns (window hashes, window offsets per document).

    h(w_0..w_{k-1}) = fmix64(sum_i w_i * WORD_BASE_INV**i + k * LEN_MIX)  (mod 2**64)
    """
    if n < 1:
        raise ValueError("window size must be >= 1")
    doc_offsets = np.asarray(doc_offsets, dtype=np.int64)
    lengths = np.diff(doc_offsets)
    counts = np.where(lengths >= n, lengths - n + 1, np.minimum(lengths, 1))
    win_offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(counts, out=win_offsets[1:])
    total = int(win_offsets[-1])
    if total == 0:
        return np.zeros(0, dtype=np.uint64), win_offsets
    m = len(word_hashes)
    # start word of every window: doc start + index of the window within its doc
    doc_of_window = np.repeat(np.arange(len(lengths)), counts)
    starts = doc_offsets[:-1][doc_of_window] + (np.arange(total) - win_offsets[:-1][doc_of_window])
    ends = np.minimum(starts + n, doc_offsets[1:][doc_of_window])
    with np.errstate(over="ignore"):
        prefix = np.empty(m + 1, dtype=np.uint64)
        prefix[0] = 0
        np.cumsum(word_hashes.astype(np.uint64, copy=False) * _WORD_POW_INV[m], out=prefix[1:])
        h = (prefix[ends] - prefix[starts]) * _WORD_POW[m][starts]
        h += (ends - starts).astype(np.uint64) * _U(LEN_MIX)
    return fmix64(h), win_offsets


def word_windows(text: pa.Array | pa.ChunkedArray, n: int, lowercase: bool = True, strip_punctuation: bool = True,
                 unicode_form: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Normalize, split, hash words, then hash word n-grams: (window hashes, offsets per doc)."""
    hashes, offsets = word_hashes(normalize_text(text, lowercase, strip_punctuation, unicode_form))
    return window_hashes(hashes, offsets, n)


# ---- pure-Python restatements (for tests and for datasketch's `hashfunc`) ------------------


def _py_fmix64(h: int) -> int:
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & MASK64
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & MASK64
    return h ^ (h >> 33)


def py_string_hash(data: bytes) -> int:
    acc = 0
    power = 1
    for byte in data:
        acc = (acc + byte * power) & MASK64
        power = (power * BYTE_BASE_INV) & MASK64
    return _py_fmix64((acc + len(data) * LEN_MIX) & MASK64)


def py_window_hash(words: list[bytes]) -> int:
    acc = 0
    power = 1
    for w in words:
        acc = (acc + py_string_hash(w) * power) & MASK64
        power = (power * WORD_BASE_INV) & MASK64
    return _py_fmix64((acc + len(words) * LEN_MIX) & MASK64)
