"""MinHash signatures and LSH banding, vectorized with numpy.

The permutation family is datasketch's (2.0) default "affine32" scheme, so our signatures are
bit-identical to `datasketch.MinHash(num_perm, seed, hashfunc, scheme="affine32")` given the
same 32-bit shingle hashes: each 32-bit shingle hash is pre-mixed with MurmurHash3's 32-bit
finalizer, then permutation k maps it to `a_k * h + b_k mod 2**32` (a_k odd, so a bijection);
the signature is the minimum per permutation. The parameters a, b come from
`numpy.random.RandomState(seed)` drawn in the same order as datasketch draws them.

Banding: LSH band i covers permutations [i*r, (i+1)*r), as in datasketch's MinHashLSH; we key a
band by a 64-bit hash of its r values (plus the band index) instead of the raw bytes, which
gives the same buckets unless two different bands collide in 64 bits.
"""

from __future__ import annotations

import numpy as np

from operators.dedup.hashing import fmix32, fmix64

EMPTY = np.uint32(0xFFFFFFFF)  # the value of an empty MinHash (datasketch: the maximum hash)
SLICE = 8192  # shingles per vectorized step: (num_perm x SLICE) uint32, measured fastest of 512..65536


def permutations(num_perm: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) of the affine32 scheme, as datasketch draws them for `seed`."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


def shingle_hash32(window_hashes64: np.ndarray) -> np.ndarray:
    """The 32-bit shingle hash MinHash consumes: the top half of the 64-bit window hash."""
    return (np.asarray(window_hashes64, dtype=np.uint64) >> np.uint64(32)).astype(np.uint32)


def signatures(hashes32: np.ndarray, offsets: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """MinHash signature (docs x num_perm, uint32) of every document.

    `hashes32[offsets[d]:offsets[d+1]]` are document d's shingle hashes; a document without
    shingles gets the empty signature (all EMPTY), like an empty datasketch MinHash.
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    ndoc = len(offsets) - 1
    k = len(a)
    out = np.full((ndoc, k), EMPTY, dtype=np.uint32)
    total = int(offsets[-1]) if ndoc else 0
    if total == 0:
        return out
    mixed = fmix32(hashes32)
    nonempty = np.flatnonzero(np.diff(offsets) > 0)
    doc_starts = offsets[nonempty]
    a_col, b_col = a[:, None], b[:, None]
    block = np.empty((k, SLICE), dtype=np.uint32)
    with np.errstate(over="ignore"):
        for s in range(0, total, SLICE):
            e = min(s + SLICE, total)
            m = block[:, : e - s]
            np.multiply(a_col, mixed[s:e][None, :], out=m)
            np.add(m, b_col, out=m)
            # documents overlapping [s, e): from the one containing s to the one containing e-1
            first = np.searchsorted(doc_starts, s, side="right") - 1
            last = np.searchsorted(doc_starts, e - 1, side="right") - 1
            seg = np.maximum(doc_starts[first: last + 1], s) - s
            partial = np.minimum.reduceat(m, seg, axis=1).T
            rows = nonempty[first: last + 1]
            out[rows] = np.minimum(out[rows], partial)
    return out


def band_keys(sigs: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """64-bit key of each (document, band): docs x bands, uint64."""
    ndoc = sigs.shape[0]
    if bands * rows > sigs.shape[1]:
        raise ValueError(f"bands*rows = {bands * rows} exceeds num_perm = {sigs.shape[1]}")
    view = sigs[:, : bands * rows].reshape(ndoc, bands, rows).astype(np.uint64)
    weights = fmix64(np.arange(1, rows + 1, dtype=np.uint64)) | np.uint64(1)
    with np.errstate(over="ignore"):
        keys = (view * weights).sum(axis=2, dtype=np.uint64)
        keys += np.arange(bands, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    return fmix64(keys)


# ---- choosing bands and rows -------------------------------------------------------------


def lsh_params(threshold: float, num_perm: int, false_positive_weight: float = 0.5,
               false_negative_weight: float = 0.5) -> tuple[int, int]:
    """(bands, rows) with bands*rows <= num_perm minimizing the weighted areas under the LSH
    S-curve on the wrong side of the threshold: the false-positive probability integrated over
    [0, threshold] and the false-negative one over [threshold, 1] (the optimisation datasketch's
    MinHashLSH performs; "Mining of Massive Datasets", ch. 3). The integrands are polynomials of
    degree bands*rows, so Gauss-Legendre quadrature with num_perm/2+1 nodes integrates them
    exactly; ties go to fewer bands, then fewer rows.
    """
    if not 0.0 < threshold < 1.0:
        raise ValueError("threshold must be in (0, 1)")
    pairs = np.array([(b, r) for b in range(1, num_perm + 1) for r in range(1, num_perm // b + 1)], dtype=np.float64)
    nodes, weights = np.polynomial.legendre.leggauss(num_perm // 2 + 1)

    def integral(lo: float, hi: float, false_negative: bool) -> np.ndarray:
        s = (hi - lo) / 2 * nodes + (hi + lo) / 2
        p_none = (1.0 - s[None, :] ** pairs[:, 1:2]) ** pairs[:, 0:1]  # no band agrees
        f = p_none if false_negative else 1.0 - p_none
        return (f * weights[None, :]).sum(axis=1) * (hi - lo) / 2

    error = (false_positive_weight * integral(0.0, threshold, False)
             + false_negative_weight * integral(threshold, 1.0, True))
    best = int(np.argmin(error))  # first minimum: pairs are ordered by bands, then rows
    return int(pairs[best, 0]), int(pairs[best, 1])


def candidate_probability(similarity: float | np.ndarray, bands: int, rows: int) -> np.ndarray:
    """Probability that two documents of Jaccard `similarity` share at least one band."""
    s = np.asarray(similarity, dtype=np.float64)
    return 1.0 - (1.0 - s ** rows) ** bands
