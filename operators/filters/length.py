"""Length filters: characters and words, each a range (reasons `<name>:too_short` / `<name>:too_long`)."""

from __future__ import annotations

from typing import ClassVar

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from operators.base import TEXT, Range, RuleFilter, with_column
from operators.registry import register
from operators.text.splitting import split_words, text_array


@register
class TextLengthFilter(RuleFilter):
    """Keep documents whose length in characters (code points) is within [min_chars, max_chars]."""

    name = "text_length_filter"
    family: ClassVar[str] = "text_length_filter"
    ranges: ClassVar[tuple[Range, ...]] = (Range("char_count", "min_chars", "max_chars", "too_short", "too_long"),)
    min_chars: int | None = Field(1, ge=0, description="minimum characters (inclusive); null = none")
    max_chars: int | None = Field(None, ge=0, description="maximum characters (inclusive); null = none")

    def compute_stats(self, table: pa.Table) -> pa.Table:
        lengths = pc.utf8_length(pc.fill_null(table.column(TEXT), ""))
        return with_column(table, "char_count", lengths, pa.int64())


@register
class WordsFilter(RuleFilter):
    """Keep documents whose word count is within [min_words, max_words].

    Words as the shared splitter counts them (`operators.text.splitting.split_words`, the same
    count as the quality filters): whitespace-separated tokens without surrounding punctuation,
    punctuation-only tokens not counted, each Han / kana character one word.

    Unlike Data-Juicer's words_num_filter, which also strips digits and symbols from word edges
    and drops tokens left empty, digits and symbols stay words: "Call 555-1234 now $" is 4 words
    here (Call, 555-1234, now, $), 2 in Data-Juicer."""

    name = "words_filter"
    family: ClassVar[str] = "words_filter"
    ranges: ClassVar[tuple[Range, ...]] = (Range("word_count", "min_words", "max_words", "too_short", "too_long"),)
    min_words: int | None = Field(50, ge=0, description="minimum words (inclusive); null = none")
    max_words: int | None = Field(None, ge=0, description="maximum words (inclusive); null = none")

    def compute_stats(self, table: pa.Table) -> pa.Table:
        words = split_words(text_array(table)).counts()
        return with_column(table, "word_count", pa.array(words, pa.int64()), pa.int64())
