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

Why the dedup operators do not use the shared splitter (`operators.text.splitting`): they
tokenize on purpose unlike the quality rules. (1) Definition: a dedup word is a maximal run of
characters that are not separators, where punctuation and symbols (P*, S*) separate words
anywhere, as datatrove's MinHash normalization replaces punctuation by spaces before shingling;
the shared splitter only strips punctuation at a word's edges ("don't", "e-mail", "3.5" stay one
word) and splits Han/Kana per character, which would change the shingles of most documents,
hence every signature and the documents MinHash and decontamination remove. (2) Cost: word
boundaries come from one pass over the UTF-8 bytes and the words are hashed from those bytes;
the shared splitter builds every word as an Arrow string (split, then trimmed) first.
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

PUNCTUATION = r"[\p{P}\p{S}]"  # the same classes, for pyarrow's regex functions

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


def normalize_text(text: pa.Array | pa.ChunkedArray, lowercase: bool = True, unicode_form: str | None = None) -> pa.Array:
    """Null to empty, optional Unicode normalization, lowercase (one code point to one)."""
    t = pc.fill_null(text, "")
    if isinstance(t, pa.ChunkedArray):
        t = t.combine_chunks() if t.num_chunks != 1 else t.chunk(0)
    if unicode_form:
        t = pc.utf8_normalize(t, form=unicode_form)
    if lowercase:
        t = pc.utf8_lower(t)
    return t


# ---- words: separators found and words hashed over the raw UTF-8 bytes with numpy ---------

ASCII_SPACE = bytes(range(0, 33)) + b"\x7f"  # every ASCII control character and space
ASCII_PUNCT = b"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"


class _Separators:
    """Which code points separate words: always ASCII controls and space, U+0085 and the
    Unicode Z* categories; punctuation and symbols (P*, S*) when asked. Non-ASCII code points are
    looked up in `unicodedata` the first time a batch holds them (a few hundred in a corpus, where
    a table of all 1.1M code points would cost every worker process ~0.3 s at start)."""

    def __init__(self) -> None:
        self._known = np.zeros(0x110000, dtype=bool)
        self._tables: dict[bool, np.ndarray] = {}

    def lookup(self, cps: np.ndarray, punctuation: bool) -> np.ndarray:
        """Is each code point (int64, <= 0x10FFFF) a separator?"""
        if not self._tables:
            for p in (False, True):
                table = np.zeros(0x110000, dtype=bool)
                table[:0x80] = _ascii_separators(np.arange(0x80, dtype=np.uint8), p)
                table[0x85] = True
                self._tables[p] = table
            self._known[:0x80] = True
        new = np.unique(cps[~self._known[cps]])
        if len(new):
            import unicodedata

            for cp in new.tolist():
                major = unicodedata.category(chr(cp))[0]
                self._tables[False][cp] |= major == "Z"
                self._tables[True][cp] |= major in "ZPS"
            self._known[new] = True
        return self._tables[punctuation][cps]


SEPARATORS = _Separators()


def _ascii_separators(data: np.ndarray, punctuation: bool) -> np.ndarray:
    """ASCII separators by range compares (uint8 wrap-around makes each range one compare):
    every control character and space, and with `punctuation` the four punctuation ranges."""
    if not punctuation:
        return (data <= 32) | (data == 127)
    sep = data < 48  # controls, space, !"#$%&'()*+,-./
    sep |= (data - np.uint8(58)) < 7  # :;<=>?@
    sep |= (data - np.uint8(91)) < 6  # [\\]^_`
    sep |= (data - np.uint8(123)) < 5  # {|}~ and DEL
    return sep


def _separator_bytes(data: np.ndarray, punctuation: bool) -> np.ndarray:
    """For each byte of UTF-8 `data`: does it belong to a separator character?"""
    with np.errstate(over="ignore"):
        sep = _ascii_separators(data, punctuation)  # bytes >= 0x80 are False here and settled below
    lead = np.flatnonzero(data >= 0xC0)
    if len(lead):
        n = len(data)
        b = [data[lead].astype(np.int64)] + [data[np.minimum(lead + k, n - 1)].astype(np.int64) & 0x3F for k in (1, 2, 3)]
        two = b[0] < 0xE0
        three = (b[0] >= 0xE0) & (b[0] < 0xF0)
        cp = np.where(two, ((b[0] & 0x1F) << 6) | b[1],
                      np.where(three, ((b[0] & 0x0F) << 12) | (b[1] << 6) | b[2],
                               ((b[0] & 0x07) << 18) | (b[1] << 12) | (b[2] << 6) | b[3]))
        hit = SEPARATORS.lookup(np.minimum(cp, 0x10FFFF), punctuation)
        if hit.any():
            width = np.where(two, 2, np.where(three, 3, 4))[hit]
            at = lead[hit]
            for k in range(4):
                sel = width > k
                sep[np.minimum(at[sel] + k, n - 1)] = True
    return sep


class Words:
    """The words of a batch of texts: 64-bit hashes, per-document offsets, and the byte span of
    each word in `text` (the lowercased text the positions refer to)."""

    def __init__(self, text: pa.Array, hashes: np.ndarray, offsets: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                 doc_bytes: np.ndarray, data: np.ndarray):
        self.text = text
        self.hashes = hashes
        self.offsets = offsets
        self.starts = starts  # byte positions in `data`, the batch's concatenated UTF-8
        self.ends = ends
        self.doc_bytes = doc_bytes  # byte offset of each document in `data`
        self._data = data

    def of(self, d: int) -> list[str]:
        """Document d's words (for tests and for mapping spans back to text)."""
        lo, hi = self.offsets[d], self.offsets[d + 1]
        return [bytes(self._data[s:e]).decode("utf-8") for s, e in zip(self.starts[lo:hi], self.ends[lo:hi])]


def words(text: pa.Array | pa.ChunkedArray, lowercase: bool = True, strip_punctuation: bool = True,
          unicode_form: str | None = None) -> Words:
    """Split every text into words and hash them, vectorized over the batch's bytes.

    A word is a maximal run of characters that are not separators (see `_Separators`); with
    `strip_punctuation`, "don't" is the two words "don" and "t", exactly as if punctuation
    had been replaced by spaces. Word hashes equal `hash_strings` of the words."""
    t = normalize_text(text, lowercase, unicode_form)
    data_all, offsets = _string_buffers(t)
    lo, hi = int(offsets[0]), int(offsets[-1])
    data = data_all[lo:hi]
    doc_bytes = offsets - lo
    n = len(data)
    if n == 0:
        empty = np.zeros(0, np.int64)
        return Words(t, np.zeros(0, np.uint64), np.zeros(len(doc_bytes), np.int64), empty, empty, doc_bytes, data)
    sep = _separator_bytes(data, strip_punctuation)
    word = ~sep
    # a word starts after a separator or at a document start, and ends before one or at a document end
    before = np.empty(n, dtype=bool)
    before[0] = True
    before[1:] = sep[:-1]
    inner_starts = doc_bytes[1:-1]
    before[inner_starts[inner_starts < n]] = True
    after = np.empty(n, dtype=bool)
    after[-1] = True
    after[:-1] = sep[1:]
    inner_ends = doc_bytes[1:-1] - 1
    after[inner_ends[inner_ends >= 0]] = True
    starts = np.flatnonzero(word & before)
    ends = np.flatnonzero(word & after) + 1
    word_offsets = np.searchsorted(starts, doc_bytes)
    return Words(t, _word_hashes(data, word, starts, ends), word_offsets, starts, ends, doc_bytes, data)


def _word_hashes(data: np.ndarray, is_word: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """`hash_strings` of the words (byte spans [starts[i], ends[i]) of `data`, which are exactly the
    runs of `is_word` bytes), each distinct word hashed once: a batch of prose has ~15x fewer distinct
    words than words, and Arrow's dictionary encoding finds them faster than numpy hashes every byte."""
    m = len(starts)
    if m == 0:
        return np.zeros(0, dtype=np.uint64)
    packed = data[is_word]  # the words back to back
    offsets = np.empty(m + 1, dtype=np.int64)
    offsets[0] = 0
    np.cumsum(ends - starts, out=offsets[1:])
    items = pa.LargeBinaryArray.from_buffers(pa.large_binary(), m, [None, pa.py_buffer(offsets), pa.py_buffer(packed)])
    encoded = pc.dictionary_encode(items)
    return hash_strings(encoded.dictionary)[encoded.indices.to_numpy()]


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
    w = words(text, lowercase, strip_punctuation, unicode_form)
    return window_hashes(w.hashes, w.offsets, n)


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


def py_words(text: str, lowercase: bool = True, strip_punctuation: bool = True) -> list[str]:
    """`words` restated: lowercase, then split on separator characters."""
    import unicodedata

    if lowercase:
        text = text.lower()
    wanted = ("Z", "P", "S") if strip_punctuation else ("Z",)
    out, cur = [], []
    for ch in text:
        c = ord(ch)
        if c < 0x80:
            is_sep = c in ASCII_SPACE or (strip_punctuation and ch in ASCII_PUNCT.decode())
        else:
            is_sep = c == 0x85 or unicodedata.category(ch)[0] in wanted
        if is_sep:
            if cur:
                out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if cur:
        out.append("".join(cur))
    return out
