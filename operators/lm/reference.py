"""Reading reference documents (Parquet/JSONL paths or globs) for training, with row filters."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

import pyarrow as pa
import pyarrow.compute as pc

from operators.base import TEXT

LANG = "lang"
METADATA = "metadata"


def column_values(batch: pa.Table, column: str) -> pa.Array | None:
    """A column as strings; for JSONL input, a field of the `metadata` JSON column (the reader
    puts fields other than text and id there). None when there is no such column."""
    if column in batch.column_names:
        return pc.fill_null(batch.column(column).cast(pa.string()), "")
    if METADATA in batch.column_names:
        values = []
        for raw in batch.column(METADATA).to_pylist():
            meta = json.loads(raw) if raw else {}
            values.append(str(meta[column]) if isinstance(meta, dict) and meta.get(column) is not None else "")
        if any(values) or not batch.num_rows:
            return pa.array(values, pa.string())
    return None


def of_lang(batch: pa.Table, lang: str | None) -> pa.Table:
    """Rows of `lang` when the batch has a `lang` column (all rows otherwise)."""
    if lang is not None and batch.num_rows:
        values = column_values(batch, LANG)
        if values is not None:
            return batch.filter(pc.equal(values, lang))
    return batch


def where(batch: pa.Table, conditions: dict[str, list[str]] | None, where_from: str) -> pa.Table:
    """Rows whose `column` value is one of the listed values, for every condition."""
    for column, allowed in (conditions or {}).items():
        values = column_values(batch, column)
        if values is None:
            raise ValueError(f"{where_from} lacks column {column!r} named in a row filter "
                             f"(columns: {', '.join(batch.column_names)})")
        batch = batch.filter(pc.is_in(values, value_set=pa.array(allowed, pa.string())))
    return batch


def iter_texts(files: Iterable[tuple[str, pa.Table]], conditions: dict[str, list[str]] | None = None,
               lang: str | None = None) -> Iterator[str]:
    """Texts of (file, batch) pairs read by the executor's readers, filtered."""
    for path, batch in files:
        batch = where(of_lang(batch, lang), conditions, path)
        yield from (t or "" for t in batch.column(TEXT).to_pylist())


