"""Output token files of one split (`train` or `validation`): documents arrive in their final
(shuffled) order and go to `<split>_<nnnnn>` files of at most `max_tokens_per_file` tokens
(a longer document gets a file of its own), as Megatron-LM `.bin`/`.idx` and/or Parquet with an
`input_ids` column (plus `id`, and the source column when there is one). Both formats hold the
same documents in the same files and order."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from operators.tokens.megatron import MegatronWriter
from operators.workfiles import location
from storage import files
from storage.location import Location

FLUSH_TOKENS = 1 << 22  # documents are buffered up to this many tokens (one Parquet row group)


class SplitWriter:
    def __init__(self, folder: Location, split: str, formats: list[str], dtype: np.dtype, max_tokens_per_file: int,
                 source_column: str | None):
        self.folder = location(folder)
        self.split = split
        self.formats = formats
        self.dtype = np.dtype(dtype)
        self.max_tokens = max_tokens_per_file
        self.source_column = source_column
        self.files: list[dict[str, Any]] = []
        self._megatron: MegatronWriter | None = None
        self._parquet: pq.ParquetWriter | None = None
        self._parquet_file: files.AtomicFile | None = None
        self._file_tokens = 0
        self._file_docs = 0
        self._file_sources: Counter = Counter()
        self._file_source_docs: Counter = Counter()
        self._chunks: list[bytes] = []
        self._lengths: list[int] = []
        self._ids: list[str] = []
        self._sources: list[str | None] = []
        self._buffered = 0

    @property
    def _name(self) -> str:
        return f"{self.split}_{len(self.files):05d}"

    def add(self, tokens: bytes, length: int, doc_id: str, source: str | None) -> None:
        if self._file_tokens and self._file_tokens + length > self.max_tokens:
            self._close_file()
        if self._megatron is None and self._parquet is None:
            self._open_file()
        self._chunks.append(tokens)
        self._lengths.append(length)
        self._ids.append(doc_id)
        self._sources.append(source)
        self._buffered += length
        self._file_tokens += length
        self._file_docs += 1
        if source is not None:  # documents without a value are in the totals only
            self._file_sources[source] += length
            self._file_source_docs[source] += 1
        if self._buffered >= FLUSH_TOKENS:
            self._flush()

    def _open_file(self) -> None:
        self.folder.mkdir()
        if "megatron" in self.formats:
            self._megatron = MegatronWriter(self.folder / self._name, self.dtype)
        if "parquet" in self.formats:
            self._parquet_file = files.AtomicFile(self.folder / f"{self._name}.parquet")
            self._parquet = pq.ParquetWriter(self._parquet_file.handle, self._schema(), compression="zstd")

    def _schema(self) -> pa.Schema:
        fields = [pa.field("input_ids", pa.list_(pa.int32())), pa.field("id", pa.string())]
        if self.source_column:
            fields.append(pa.field(self.source_column, pa.string()))
        return pa.schema(fields)

    def _flush(self) -> None:
        if not self._lengths:
            return
        data = b"".join(self._chunks)
        lengths = np.array(self._lengths, dtype=np.int64)
        if self._megatron is not None:
            self._megatron.write(data, lengths)
        if self._parquet is not None:
            values = pa.array(np.frombuffer(data, dtype=self.dtype).astype(np.int32))
            offsets = pa.array(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32))
            columns = [pa.ListArray.from_arrays(offsets, values), pa.array(self._ids, pa.string())]
            if self.source_column:
                columns.append(pa.array(self._sources, pa.string()))
            self._parquet.write_table(pa.Table.from_arrays(columns, schema=self._schema()))
        self._chunks, self._lengths, self._ids, self._sources = [], [], [], []
        self._buffered = 0

    def _close_file(self) -> None:
        self._flush()
        name = self._name
        entry: dict[str, Any] = {"name": name, "documents": self._file_docs, "tokens": self._file_tokens,
                                 "files": []}
        if self._megatron is not None:
            self._megatron.close()
            entry["files"] += [f"{name}.bin", f"{name}.idx"]
        if self._parquet is not None:
            self._parquet.close()
            self._parquet_file.commit()  # type: ignore[union-attr]
            entry["files"].append(f"{name}.parquet")
        if self._file_sources:
            entry["sources"] = {s: {"documents": self._file_source_docs[s], "tokens": t}
                                for s, t in sorted(self._file_sources.items())}
        self.files.append(entry)
        self._megatron = self._parquet = None
        self._file_tokens = self._file_docs = 0
        self._file_sources, self._file_source_docs = Counter(), Counter()

    def close(self) -> dict[str, Any]:
        """Finish the last file; returns the split's manifest entry."""
        if self._megatron is not None or self._parquet is not None:
            self._close_file()
        summary: dict[str, Any] = {"documents": sum(f["documents"] for f in self.files),
                                   "tokens": sum(f["tokens"] for f in self.files), "files": self.files}
        if any("sources" in f for f in self.files):
            sources: dict[str, dict[str, int]] = {}
            for f in self.files:
                for s, c in f.get("sources", {}).items():
                    agg = sources.setdefault(s, {"documents": 0, "tokens": 0})
                    agg["documents"] += c["documents"]
                    agg["tokens"] += c["tokens"]
            summary["sources"] = dict(sorted(sources.items()))
        return summary

    def abort(self) -> None:
        if self._megatron is not None:
            self._megatron.abort()
        if self._parquet is not None:
            self._parquet.close()
            self._parquet_file.abort()  # type: ignore[union-attr]
