"""The columns every batch carries and the helpers operators use to read and set columns.

Every batch inside the pipeline is a `pyarrow.Table` with the text in `text`, the document id in
`id` and `_doc_key` (int64, shard index << SHARD_BITS | row): a global, deterministic order that
global operators use for keep rules. `operators.base` re-exports all of these.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from storage.columns import DOC_KEY, ID, SHARD_BITS, TEXT  # noqa: F401 - re-exported: one definition for I/O and operators


def with_column(table: pa.Table, name: str, values: Any, type: pa.DataType | None = None) -> pa.Table:
    """Set (add or replace) a column; values are an Arrow array or anything `pa.array` takes."""
    arr = values if isinstance(values, pa.Array | pa.ChunkedArray) else pa.array(values, type=type)
    if type is not None and arr.type != type:
        arr = arr.cast(type)
    idx = table.schema.get_field_index(name)
    if idx >= 0:
        return table.set_column(idx, name, arr)
    return table.append_column(name, arr)


def add_columns(table: pa.Table, columns: dict[str, tuple[np.ndarray | pa.Array, pa.DataType]]) -> pa.Table:
    """Set several statistic columns, each {name: (values, Arrow type)}, in order (`with_column`)."""
    for name, (values, dtype) in columns.items():
        table = with_column(table, name, values, dtype)
    return table


def ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator as float64, 0.0 where the denominator is 0 (a ratio over nothing
    is 0, never NaN, so that statistics columns stay plottable)."""
    num = np.asarray(numerator, dtype=np.float64)
    den = np.asarray(denominator, dtype=np.float64)
    out = np.zeros(np.broadcast(num, den).shape, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


def int64_values(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """An integer Arrow array (counts, lengths, offsets) as a numpy int64 array."""
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=np.int64)


def bool_values(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A boolean Arrow array (a match, a mask) as a numpy bool array; null counts as false."""
    return np.asarray(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=bool)


def texts(table: pa.Table) -> list[str]:
    """The text column as Python strings (null as empty)."""
    return [t if t is not None else "" for t in table.column(TEXT).to_pylist()]


def as_table(data: pa.Table | pa.RecordBatch | Sequence[dict[str, Any]], with_doc_key: bool = False) -> pa.Table:
    """A table from a table, a record batch or a list of dicts; lists (and, when asked, any
    table lacking it) get `_doc_key` = row number, the corpus order global operators need."""
    if isinstance(data, pa.Table):
        table = data
    elif isinstance(data, pa.RecordBatch):
        table = pa.Table.from_batches([data])
    else:
        table = pa.Table.from_pylist(list(data))
        with_doc_key = True
    if with_doc_key and DOC_KEY not in table.column_names:
        table = table.append_column(DOC_KEY, pa.array(np.arange(table.num_rows, dtype=np.int64)))
    return table
