"""Operators defined outside the package, used by recipes as `tests.custom_ops:Class`."""

from __future__ import annotations

import os
import time

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from operators.base import TEXT, Mapper, with_column


class UppercaseText(Mapper):
    """Uppercase the text (a custom operator for tests)."""

    name = "uppercase_text"

    def process(self, table: pa.Table) -> pa.Table:
        return with_column(table, TEXT, pc.utf8_upper(table.column(TEXT)))


class SlowMapper(Mapper):
    """Sleeps per batch so that a run lasts long enough to be killed at chosen points."""

    name = "slow_mapper"
    seconds: float = Field(0.05, ge=0)

    def process(self, table: pa.Table) -> pa.Table:
        time.sleep(self.seconds)
        return table


class ExplodingMapper(Mapper):
    """Raises on a chosen document, to test how operator errors are reported."""

    name = "exploding_mapper"
    trigger: str = "boom"

    def process(self, table: pa.Table) -> pa.Table:
        if any(self.trigger in (t or "") for t in table.column(TEXT).to_pylist()):
            raise ValueError(f"refusing a document with pid {os.getpid()}")
        return table
