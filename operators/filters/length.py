"""Length filters: characters and words."""

from __future__ import annotations

from typing import ClassVar

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from operators.base import TEXT, Filter, reasons_from_rules, with_column
from operators.registry import register
from operators.text.splitting import split_words, text_array


class _RangeFilter(Filter):
    """A statistic with optional lower and upper bounds."""

    stat: ClassVar[str] = ""

    def _bounds(self) -> tuple[float | None, float | None]:
        raise NotImplementedError

    def decide(self, table: pa.Table) -> pa.Array:
        lo, hi = self._bounds()
        values = table.column(self.stat)
        rules = []
        if lo is not None:
            rules.append((pc.less(values, lo), f"{self.name}:too_short"))
        if hi is not None:
            rules.append((pc.greater(values, hi), f"{self.name}:too_long"))
        return reasons_from_rules(table.num_rows, rules)

    def stat_thresholds(self) -> dict[str, tuple[float | None, float | None]]:
        return {self.stat: self._bounds()}


@register
class TextLengthFilter(_RangeFilter):
    """Keep documents whose length in characters (code points) is within [min_chars, max_chars]."""

    name = "text_length_filter"
    stat: ClassVar[str] = "char_count"
    min_chars: int | None = Field(1, ge=0, description="minimum characters (inclusive); null = none")
    max_chars: int | None = Field(None, ge=0, description="maximum characters (inclusive); null = none")

    @model_validator(mode="after")
    def _order(self) -> TextLengthFilter:
        if self.min_chars is not None and self.max_chars is not None and self.min_chars > self.max_chars:
            raise ValueError("min_chars must be <= max_chars")
        return self

    def _bounds(self):
        return self.min_chars, self.max_chars

    def compute_stats(self, table: pa.Table) -> pa.Table:
        lengths = pc.utf8_length(pc.fill_null(table.column(TEXT), ""))
        return with_column(table, "char_count", lengths, pa.int64())


@register
class WordsFilter(_RangeFilter):
    """Keep documents whose word count is within [min_words, max_words].

    Words as the shared splitter counts them (`operators.text.splitting.split_words`, the same
    count as the quality filters): whitespace-separated tokens without surrounding punctuation,
    punctuation-only tokens not counted, each Han / kana character one word."""

    name = "words_filter"
    stat: ClassVar[str] = "word_count"
    min_words: int | None = Field(50, ge=0, description="minimum words (inclusive); null = none")
    max_words: int | None = Field(None, ge=0, description="maximum words (inclusive); null = none")

    @model_validator(mode="after")
    def _order(self) -> WordsFilter:
        if self.min_words is not None and self.max_words is not None and self.min_words > self.max_words:
            raise ValueError("min_words must be <= max_words")
        return self

    def _bounds(self):
        return self.min_words, self.max_words

    def compute_stats(self, table: pa.Table) -> pa.Table:
        words = split_words(text_array(table)).counts()
        return with_column(table, "word_count", pa.array(words, pa.int64()), pa.int64())
