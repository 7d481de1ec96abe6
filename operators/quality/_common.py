"""What the quality filters share: safe ratios and column helpers (threshold rules: base.RuleFilter)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from operators.base import with_column


def ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator as float64, 0.0 where the denominator is 0 (a ratio over nothing
    is 0, never NaN, so that statistics columns stay plottable)."""
    num = np.asarray(numerator, dtype=np.float64)
    den = np.asarray(denominator, dtype=np.float64)
    out = np.zeros(np.broadcast(num, den).shape, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


def add_columns(table: pa.Table, columns: dict[str, tuple[np.ndarray | pa.Array, pa.DataType]]) -> pa.Table:
    for name, (values, dtype) in columns.items():
        arr = values if isinstance(values, pa.Array | pa.ChunkedArray) else pa.array(values, type=dtype)
        table = with_column(table, name, arr, dtype)
    return table
