"""Megatron-LM indexed datasets (`<prefix>.bin` + `<prefix>.idx`), written without Megatron.

The format, as megatron/core/datasets/indexed_dataset.py reads it (all little-endian):
  .bin  the token ids of every sequence, back to back, in the index's dtype
  .idx  b"MMIDIDX\\x00\\x00", version u64 = 1, dtype code u8 (uint16 = 8, int32 = 4),
        sequence count u64, document-index count u64,
        sequence lengths int32[sequences], sequence byte offsets into .bin int64[sequences],
        document indices int64[documents + 1] (0, then the end sequence of each document).
Here every document is one sequence, so the document indices are 0, 1, ..., n.
"""

from __future__ import annotations

import struct

import numpy as np

from storage import files
from storage.location import Location

HEADER = b"MMIDIDX\x00\x00"
VERSION = 1
DTYPE_CODES = {np.dtype(np.uint8): 1, np.dtype(np.int8): 2, np.dtype(np.int16): 3, np.dtype(np.int32): 4,
               np.dtype(np.int64): 5, np.dtype(np.float64): 6, np.dtype(np.float32): 7, np.dtype(np.uint16): 8}


class MegatronWriter:
    """Appends documents to `<prefix>.bin` (under a temporary name) and writes `<prefix>.idx`
    on `close()`, then renames both: a reader never sees a partial file. Memory: 4 bytes per
    document for the lengths."""

    def __init__(self, prefix: Location, dtype: np.dtype):
        if np.dtype(dtype) not in DTYPE_CODES:
            raise ValueError(f"Megatron indexed datasets have no dtype {dtype}")
        self.prefix = prefix
        self.dtype = np.dtype(dtype)
        self._bin_file = files.AtomicFile(prefix.parent / f"{prefix.name}.bin")
        self._bin = self._bin_file.handle
        self._lengths: list[np.ndarray] = []
        self.documents = 0
        self.tokens = 0

    def write(self, tokens: bytes | np.ndarray, lengths: np.ndarray) -> None:
        """Append documents: their tokens back to back (already in this dtype) and lengths."""
        data = tokens.tobytes() if isinstance(tokens, np.ndarray) else tokens
        self._bin.write(data)
        self._lengths.append(np.asarray(lengths, dtype=np.int32))
        self.documents += len(lengths)
        self.tokens += int(np.sum(lengths, dtype=np.int64))

    def close(self) -> None:
        self._bin.close()
        lengths = np.concatenate(self._lengths) if self._lengths else np.zeros(0, np.int32)
        pointers = np.zeros(len(lengths), dtype=np.int64)
        np.cumsum(lengths[:-1].astype(np.int64) * self.dtype.itemsize, out=pointers[1:])
        doc_index = np.arange(len(lengths) + 1, dtype=np.int64)
        with files.AtomicFile(self.prefix.parent / f"{self.prefix.name}.idx") as f:
            f.write(HEADER)
            f.write(struct.pack("<Q", VERSION))
            f.write(struct.pack("<B", DTYPE_CODES[self.dtype]))
            f.write(struct.pack("<Q", len(lengths)))
            f.write(struct.pack("<Q", len(doc_index)))
            f.write(lengths.astype("<i4").tobytes())
            f.write(pointers.astype("<i8").tobytes())
            f.write(doc_index.astype("<i8").tobytes())
            self._bin_file.commit()  # the .bin first: an .idx never points into a missing file

    def abort(self) -> None:
        self._bin_file.abort()
