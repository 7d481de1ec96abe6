"""Length filters: characters and words."""

from __future__ import annotations

from typing import ClassVar

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from operators.base import TEXT, Op, RuleFilter, with_column
from operators.registry import register
from operators.text.splitting import split_words, text_array


class _RangeFilter(RuleFilter):
    """A statistic with optional inclusive bounds; reasons `<name>:too_short` / `<name>:too_long`."""

    stat: ClassVar[str] = ""
    bound_names: ClassVar[tuple[str, str]] = ("", "")  # the (minimum, maximum) parameters

    def _bounds(self) -> tuple[float | None, float | None]:
        lo, hi = self.bound_names
        return getattr(self, lo), getattr(self, hi)

    @model_validator(mode="after")
    def _order(self) -> _RangeFilter:
        lo, hi = self._bounds()
        if lo is not None and hi is not None and lo > hi:
            raise ValueError(f"{self.bound_names[0]} must be <= {self.bound_names[1]}")
        return self

    def rules(self) -> list[tuple[str, Op, float | None, str]]:
        lo, hi = self._bounds()
        return [(self.stat, "<", lo, "too_short"), (self.stat, ">", hi, "too_long")]


@register
class TextLengthFilter(_RangeFilter):
    """Keep documents whose length in characters (code points) is within [min_chars, max_chars]."""

    name = "text_length_filter"
    family: ClassVar[str] = "text_length_filter"
    stat: ClassVar[str] = "char_count"
    bound_names: ClassVar[tuple[str, str]] = ("min_chars", "max_chars")
    min_chars: int | None = Field(1, ge=0, description="minimum characters (inclusive); null = none")
    max_chars: int | None = Field(None, ge=0, description="maximum characters (inclusive); null = none")

    def compute_stats(self, table: pa.Table) -> pa.Table:
        lengths = pc.utf8_length(pc.fill_null(table.column(TEXT), ""))
        return with_column(table, "char_count", lengths, pa.int64())


@register
class WordsFilter(_RangeFilter):
    """Keep documents whose word count is within [min_words, max_words].

    Words as the shared splitter counts them (`operators.text.splitting.split_words`, the same
    count as the quality filters): whitespace-separated tokens without surrounding punctuation,
    punctuation-only tokens not counted, each Han / kana character one word.

    Unlike Data-Juicer's words_num_filter, which also strips digits and symbols from word edges
    and drops tokens left empty, digits and symbols stay words: "Call 555-1234 now $" is 4 words
    here (Call, 555-1234, now, $), 2 in Data-Juicer."""

    name = "words_filter"
    family: ClassVar[str] = "words_filter"
    stat: ClassVar[str] = "word_count"
    bound_names: ClassVar[tuple[str, str]] = ("min_words", "max_words")
    min_words: int | None = Field(50, ge=0, description="minimum words (inclusive); null = none")
    max_words: int | None = Field(None, ge=0, description="maximum words (inclusive); null = none")

    def compute_stats(self, table: pa.Table) -> pa.Table:
        words = split_words(text_array(table)).counts()
        return with_column(table, "word_count", pa.array(words, pa.int64()), pa.int64())
