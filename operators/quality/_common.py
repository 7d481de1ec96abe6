"""What the quality filters share: threshold rules, safe ratios, column helpers."""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from operators.base import Filter, reasons_from_rules, with_column

Op = Literal["<", "<=", ">", ">=", "true"]  # "true": remove where a boolean column is true
_COMPARE = {"<": pc.less, "<=": pc.less_equal, ">": pc.greater, ">=": pc.greater_equal}


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


class RuleFilter(Filter):
    """A filter whose decisions are threshold rules on its statistic columns.

    `rules()` lists (column, op, threshold, rule name); a row is removed by the first rule whose
    `column op threshold` holds, with reason `family:rule`. A rule with threshold None is off.
    """

    family: ClassVar[str] = ""

    def rules(self) -> list[tuple[str, Op, float | None, str]]:  # pragma: no cover - abstract
        raise NotImplementedError

    def decide(self, table: pa.Table) -> pa.Array:
        masks = []
        for column, op, threshold, rule in self.rules():
            if threshold is None:
                continue
            values = table.column(column)
            mask = values if op == "true" else _COMPARE[op](values, threshold)
            mask = pc.fill_null(mask, False)
            masks.append((mask, f"{self.family}:{rule}"))
        return reasons_from_rules(table.num_rows, masks)

    def stat_thresholds(self) -> dict[str, tuple[float | None, float | None]]:
        out: dict[str, tuple[float | None, float | None]] = {}
        for column, op, threshold, _rule in self.rules():
            if threshold is None or op == "true":
                continue
            lo, hi = out.get(column, (None, None))
            if op in ("<", "<="):
                lo = threshold
            else:
                hi = threshold
            out[column] = (lo, hi)
        return out
