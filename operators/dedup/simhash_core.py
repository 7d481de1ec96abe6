"""64-bit SimHash of word shingles and the block-permutation tables that find every pair of
hashes within a Hamming distance, vectorized with numpy.

SimHash (Charikar 2002; Manku, Jain and Das Sarma, "Detecting Near-Duplicates for Web
Crawling", WWW 2007): bit b of a document's hash is 1 when more than half of its shingle
hashes (counted with repetition) have bit b set.

Tables (Manku et al. §3): cut the 64 bits into `blocks` contiguous blocks. Two hashes that
differ in at most `distance` bits differ in at most `distance` blocks, so they agree exactly on
at least `blocks - distance` of them. One table per choice of `blocks - distance` blocks keys
each hash by those blocks; every pair within the distance shares a key in at least one table,
and candidates sharing a key are verified by their exact distance. This is what
simhash-py's `find_all(hashes, number_of_blocks, different_bits)` (used by Data-Juicer)
computes.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from operators.dedup.hashing import PUNCTUATION, fmix64, normalize_text, window_hashes

SPACES = r"[\s\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]+"  # RE2's \s is ASCII
SLICE = 1 << 18  # shingles per vectorized step: bounds the (SLICE x 64) bit matrix to 16 MB


@functools.cache
def _byte_lanes() -> np.ndarray:
    """For every byte value, a uint64 whose byte lane b is bit b of the value (0 or 1): adding
    these counts 8 bits at once, up to 255 additions per lane."""
    values = np.arange(256, dtype=np.uint64)
    out = np.zeros(256, dtype=np.uint64)
    for b in range(8):
        out |= ((values >> np.uint64(b)) & np.uint64(1)) << np.uint64(8 * b)
    return out


def simhashes(window_hashes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """SimHash (uint64) of every document; `window_hashes[offsets[d]:offsets[d+1]]` are the
    shingle hashes of document d. A document without shingles gets 0 (callers skip it).

    Bit counts are summed in byte lanes: each shingle's 8 bytes become 8 uint64 of per-bit
    0/1 lanes, summed over segments of at most 255 shingles (no lane overflows), then the
    segments' counts are added per document."""
    offsets = np.asarray(offsets, dtype=np.int64)
    ndoc = len(offsets) - 1
    counts = np.zeros((ndoc, 64), dtype=np.int64)
    total = int(offsets[-1]) if ndoc else 0
    hashes = np.ascontiguousarray(window_hashes, dtype=np.uint64)
    lanes_of = _byte_lanes()
    doc_starts = offsets[:-1][np.diff(offsets) > 0]
    for s in range(0, total, SLICE):
        e = min(s + SLICE, total)
        cuts = np.unique(np.concatenate([doc_starts[(doc_starts >= s) & (doc_starts < e)], np.arange(s, e, 255)]))
        lanes = lanes_of[hashes[s:e].view(np.uint8).reshape(-1, 8)]  # (shingles, 8) uint64
        sums = np.add.reduceat(lanes, cuts - s, axis=0)
        seg_counts = sums.view(np.uint8).reshape(len(cuts), 64).astype(np.int64)  # bit 8k+b at [k*8+b]
        np.add.at(counts, np.searchsorted(offsets, cuts, side="right") - 1, seg_counts)
    majority = counts * 2 > np.diff(offsets)[:, None]
    packed = np.packbits(majority, axis=1, bitorder="little")
    return np.ascontiguousarray(packed).view("<u8").ravel().astype(np.uint64)


def char_windows(text: pa.Array | pa.ChunkedArray, n: int, lowercase: bool = True, strip_punctuation: bool = True,
                 unicode_form: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of every window of `n` consecutive characters (code points) of each text, and
    window offsets per text: the text normalized (Unicode form, lowercase), punctuation and
    symbols deleted, whitespace runs made one space and the ends trimmed. A text shorter than
    `n` characters is one window; an empty one has none."""
    from operators.text.splitting import codepoints

    t = normalize_text(text, lowercase, unicode_form)
    if strip_punctuation:
        t = pc.replace_substring_regex(t, PUNCTUATION, "")
    t = pc.utf8_trim_whitespace(pc.replace_substring_regex(t, SPACES, " "))
    cps, offsets = codepoints(t)
    return window_hashes(fmix64(cps.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)), offsets, n)


def block_masks(blocks: int) -> list[np.uint64]:
    """Masks of `blocks` contiguous blocks covering the 64 bits (the first 64 % blocks get one
    bit more)."""
    base, extra = divmod(64, blocks)
    masks, start = [], 0
    for i in range(blocks):
        width = base + (1 if i < extra else 0)
        masks.append(np.uint64(((1 << width) - 1) << start))
        start += width
    return masks


def table_masks(blocks: int, distance: int) -> list[np.uint64]:
    """One mask per table: the union of each choice of `blocks - distance` blocks."""
    if not 0 <= distance < blocks:
        raise ValueError(f"distance must be in [0, blocks): got distance {distance}, blocks {blocks}")
    masks = block_masks(blocks)
    out = []
    for chosen in itertools.combinations(range(blocks), blocks - distance):
        m = np.uint64(0)
        for i in chosen:
            m |= masks[i]
        out.append(m)
    return out


def table_keys(hashes: np.ndarray, masks: list[np.uint64]) -> np.ndarray:
    """Key of every hash in every table (docs x tables, uint64): the masked bits mixed with the
    table index, so tables never share keys."""
    h = np.asarray(hashes, dtype=np.uint64)
    keys = np.empty((len(h), len(masks)), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for t, m in enumerate(masks):
            keys[:, t] = (h & m) ^ (np.uint64(t + 1) * np.uint64(0x9E3779B97F4A7C15))
    return fmix64(keys)


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.bitwise_count(np.asarray(a, np.uint64) ^ np.asarray(b, np.uint64)).astype(np.int64)


def group_pairs(group_starts: np.ndarray, n: int, max_pairs: int = 1 << 22) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Every pair (i, j), i < j, of rows in the same group, in chunks of about `max_pairs`:
    rows [group_starts[g], group_starts[g+1]) form group g of n rows in all. Step d pairs each
    row with the row d places later, only in groups larger than d, so the work is the number
    of pairs, never n times the largest group."""
    sizes = np.diff(np.append(group_starts, n))
    rows = np.arange(n, dtype=np.int64)
    group_end = np.repeat(group_starts + sizes, sizes)
    live = rows[np.repeat(sizes > 1, sizes)]
    d = 1
    while len(live):
        ok = live + d < group_end[live]
        live = live[ok]
        for s in range(0, len(live), max_pairs):
            i = live[s:s + max_pairs]
            yield i, i + d
        d += 1


def close_pairs(key: np.ndarray, h: np.ndarray, table: np.ndarray, doc: np.ndarray,
                distance: int) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Pairs of documents within `distance` among bucket rows (table key, hash, table, doc).

    Documents with identical hashes are linked to the first of them (once: from table 0's
    buckets, where every hash has a row); distinct hashes that share a key are compared exactly.
    Returns (u, v, counts) with counts of identical-hash links and of compared pairs."""
    order = np.lexsort((doc, h, key))
    key, h, table, doc = key[order], h[order], table[order], doc[order]
    if len(key) == 0:
        return doc, doc, {"identical_hash_links": 0, "candidate_pairs": 0}
    new_hash = np.r_[True, (key[1:] != key[:-1]) | (h[1:] != h[:-1])]
    first_doc = doc[np.flatnonzero(new_hash)[np.cumsum(new_hash) - 1]]
    same = ~new_hash & (table == 0)
    us, vs = [first_doc[same]], [doc[same]]
    key, h, doc = key[new_hash], h[new_hash], doc[new_hash]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    compared = 0
    for i, j in group_pairs(starts, len(key)):
        close = hamming(h[i], h[j]) <= distance
        compared += len(i)
        us.append(doc[i][close])
        vs.append(doc[j][close])
    counts = {"identical_hash_links": int(same.sum()), "candidate_pairs": compared}
    return np.concatenate(us), np.concatenate(vs), counts
