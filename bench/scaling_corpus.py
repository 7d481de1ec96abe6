"""A corpus of N documents made from corpus_en (160k documents) by enciphered copies.

Copy k of the corpus (k = 0 is the corpus itself) has its letters and digits mapped through a
permutation seeded by k: a-z among themselves, A-Z the same way, 0-9 among themselves. A letter
permutation is a bijection of the vocabulary (each word maps to one word, distinct words to
distinct words, case preserved, so lowercasing commutes with it), and punctuation and spaces
are kept. Hence each copy keeps the corpus's length distribution, byte sizes and its own
near-duplicate structure exactly (same shingle Jaccard between any two of its documents), while
two copies share almost no 5-word shingle (a shingle survives another copy's cipher only if all
its letters are fixed points of both permutations), so copies are not near-duplicates of each
other. Ids are `c<k>/<original id>`. Shards keep the corpus's 10,000 documents each and are
named `part-<copy>-<shard>.parquet`, so the first m files in name order are a prefix corpus
(`link_prefix`: 100 files = 999,943 + ... ~ 1M documents). Only ASCII bytes are changed, so the
UTF-8 stays valid.
"""

from __future__ import annotations

import os
import string
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

# as tests/conftest.py: ../shared/data next to the project, or PIPELINE_SHARED_DATA
SHARED = Path(os.environ.get("PIPELINE_SHARED_DATA", Path(__file__).resolve().parent.parent.parent / "shared" / "data"))
SOURCE = SHARED / "corpus_en"


def cipher_table(copy: int) -> np.ndarray:
    """Byte lookup table of copy `copy`: a seeded permutation of a-z (A-Z alike) and of 0-9."""
    lut = np.arange(256, dtype=np.uint8)
    if copy == 0:
        return lut
    rng = np.random.default_rng(copy)
    letters = rng.permutation(26)
    digits = rng.permutation(10)
    for alphabet, perm in ((string.ascii_lowercase, letters), (string.ascii_uppercase, letters),
                           (string.digits, digits)):
        codes = np.frombuffer(alphabet.encode(), dtype=np.uint8)
        lut[codes] = codes[perm]
    return lut


def encipher(text: pa.Array, lut: np.ndarray) -> pa.Array:
    """Map every byte of a string array's data through `lut` (offsets and nulls unchanged)."""
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    validity, offsets, data = text.buffers()
    mapped = lut[np.frombuffer(data, dtype=np.uint8)] if data is not None else np.zeros(0, np.uint8)
    return pa.StringArray.from_buffers(len(text), offsets, pa.py_buffer(mapped.tobytes()), validity,
                                       text.null_count, text.offset)


def make_corpus(folder: Path, copies: int, source: Path = SOURCE) -> int:
    """Write `copies` enciphered copies of the corpus into `folder`; returns documents written.
    Files already there (an earlier, interrupted call) are kept."""
    folder.mkdir(parents=True, exist_ok=True)
    shards = sorted(source.glob("part-*.parquet"))
    if not shards:
        raise SystemExit(f"no corpus at {source}")
    tables = [pq.read_table(p) for p in shards]
    written = 0
    for k in range(copies):
        lut = cipher_table(k)
        for s, table in enumerate(tables):
            path = folder / f"part-{k:03d}-{s:02d}.parquet"
            written += table.num_rows
            if path.exists():
                continue
            ids = pa.compute.binary_join_element_wise(pa.scalar(f"c{k}/"), table.column("id"), "")
            out = pa.table({"id": ids, "text": encipher(table.column("text"), lut), "source": table.column("source")})
            tmp = path.with_suffix(".tmp")
            pq.write_table(out, tmp, compression="zstd")
            tmp.rename(path)
    return written


def link_prefix(corpus: Path, folder: Path, files: int) -> int:
    """A corpus of the first `files` shards of `corpus` (symbolic links); returns its documents."""
    folder.mkdir(parents=True, exist_ok=True)
    docs = 0
    for p in sorted(corpus.glob("part-*.parquet"))[:files]:
        link = folder / p.name
        if not link.exists():
            link.symlink_to(p)
        docs += pq.ParquetFile(p).metadata.num_rows
    return docs
