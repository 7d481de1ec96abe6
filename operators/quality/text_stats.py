"""Text statistics, each a column and a min/max filter: alphanumeric and special-character
ratios, character and word n-gram repetition, average and maximum line length.

The statistics follow Data-Juicer's filters of the same names (which take them from the
BigScience ROOTS / "text-data-filtering" tooling, Laurençon et al. 2022); the default
thresholds are Data-Juicer's defaults.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pyarrow as pa
from pydantic import Field

from operators.base import Range, RuleFilter, add_columns, ratio
from operators.quality._repetition import NgramIndex, group_keys
from operators.registry import register
from operators.text.splitting import (
    char_class,
    codepoints,
    segment_sum,
    split_lines,
    split_words,
    text_array,
    whitespace_table,
)

F64 = pa.float64()


def _ratio_range(stat: str) -> tuple[Range, ...]:
    """Column `text_<stat>` kept within [min_ratio, max_ratio]; reasons `<stat>_too_low` / `_too_high`."""
    return (Range(f"text_{stat}", "min_ratio", "max_ratio", f"{stat}_too_low", f"{stat}_too_high"),)


@register
class AlphanumericFilter(RuleFilter):
    """Keep documents whose fraction of alphanumeric characters is within [min_ratio, max_ratio].

    Alphanumeric: Unicode letters, combining marks and numbers (general categories L, M, N;
    Data-Juicer uses str.isalnum, which leaves out marks and so penalizes Indic scripts).
    Default min 0.25: Data-Juicer alphanumeric_filter.
    """

    name = "alphanumeric_filter"
    family: ClassVar[str] = "text_stats"
    ranges: ClassVar[tuple[Range, ...]] = _ratio_range("alnum_ratio")
    min_ratio: float | None = Field(0.25, ge=0, le=1, description="minimum alphanumeric fraction (Data-Juicer: 0.25)")
    max_ratio: float | None = Field(None, ge=0, le=1, description="maximum alphanumeric fraction (Data-Juicer: none)")

    def compute_stats(self, table: pa.Table) -> pa.Table:
        cps, offsets = codepoints(text_array(table))
        alnum = segment_sum(char_class("L,M,N")[cps], offsets)
        return add_columns(table, {"text_alnum_ratio": (ratio(alnum, np.diff(offsets)), F64)})


@register
class SpecialCharactersFilter(RuleFilter):
    """Keep documents whose fraction of special characters is within [min_ratio, max_ratio].

    Special: punctuation, symbols (emoji included), numbers, whitespace and separators (general
    categories P, S, N, Z, and str.isspace), i.e. everything but letters, marks and controls.
    Data-Juicer's list is ASCII punctuation, digits, whitespace, ~150 listed symbols and emoji;
    this class also covers non-ASCII punctuation and symbols. Default max 0.25: Data-Juicer
    special_characters_filter.
    """

    name = "special_characters_filter"
    family: ClassVar[str] = "text_stats"
    ranges: ClassVar[tuple[Range, ...]] = _ratio_range("special_char_ratio")
    min_ratio: float | None = Field(None, ge=0, le=1, description="minimum special-character fraction (Data-Juicer: 0)")
    max_ratio: float | None = Field(0.25, ge=0, le=1, description="maximum special-character fraction (Data-Juicer: 0.25)")

    def compute_stats(self, table: pa.Table) -> pa.Table:
        cps, offsets = codepoints(text_array(table))
        special = char_class("P,S,N,Z") | whitespace_table()
        return add_columns(table, {"text_special_char_ratio": (ratio(segment_sum(special[cps], offsets), np.diff(offsets)), F64)})


@register
class CharRepetitionFilter(RuleFilter):
    """Keep documents whose character n-gram repetition ratio is within [min_ratio, max_ratio].

    Ratio (BigScience ROOTS / Data-Juicer character_repetition_filter): over the document's
    character `rep_len`-grams, the occurrences of the k most frequent ones over all n-grams,
    where k = min(floor(sqrt(distinct n-grams)), distinct n-grams occurring more than once).
    0 for texts shorter than `rep_len`. Defaults: rep_len 10, max 0.5 (Data-Juicer).
    """

    name = "char_repetition_filter"
    family: ClassVar[str] = "text_stats"
    ranges: ClassVar[tuple[Range, ...]] = _ratio_range("char_rep_ratio")
    rep_len: int = Field(10, ge=1, le=64, description="character n-gram length (Data-Juicer: 10)")
    min_ratio: float | None = Field(None, ge=0, le=1, description="minimum ratio (Data-Juicer: 0)")
    max_ratio: float | None = Field(0.5, ge=0, le=1, description="maximum ratio (Data-Juicer: 0.5)")

    def compute_stats(self, table: pa.Table) -> pa.Table:
        cps, offsets = codepoints(text_array(table))
        index = NgramIndex(cps, offsets)
        total = index.ngrams_per_doc(self.rep_len)
        top = np.zeros(index.num_docs, dtype=np.int64)
        starts, ids = index.ngram_ids(self.rep_len)
        if len(starts):
            group, _first, group_count = group_keys(ids)
            repeated = group_count[group] > 1
            if repeated.any():
                top = _top_k_occurrences(index, starts[repeated], group[repeated], group_count, total)
        return add_columns(table, {"text_char_rep_ratio": (ratio(top, total), F64)})


def _top_k_occurrences(index: NgramIndex, starts: np.ndarray, group: np.ndarray, group_count: np.ndarray,
                       total: np.ndarray) -> np.ndarray:
    """Per document: summed counts of its k most frequent n-grams (k as in CharRepetitionFilter)."""
    groups, first = np.unique(group, return_index=True)
    doc = index.parents[starts[first]]
    count = group_count[groups]
    repeated_groups = np.bincount(doc, minlength=index.num_docs)
    repeated_occurrences = np.bincount(doc, weights=count, minlength=index.num_docs).astype(np.int64)
    distinct = total - repeated_occurrences + repeated_groups
    k = np.minimum(np.floor(np.sqrt(distinct)).astype(np.int64), repeated_groups)
    order = np.lexsort((-count, doc))
    doc_sorted = doc[order]
    first_of_doc = np.searchsorted(doc_sorted, doc_sorted, side="left")
    rank = np.arange(len(order)) - first_of_doc
    chosen = rank < k[doc_sorted]
    return np.bincount(doc_sorted, weights=count[order] * chosen, minlength=index.num_docs).astype(np.int64)


@register
class WordRepetitionFilter(RuleFilter):
    """Keep documents whose word n-gram repetition ratio is within [min_ratio, max_ratio].

    Ratio (BigScience ROOTS / Data-Juicer word_repetition_filter): occurrences of word
    `rep_len`-grams that occur more than once, over all word `rep_len`-grams of the document
    (words: the shared splitter, case kept). Defaults: rep_len 10, max 0.5 (Data-Juicer).

    Unlike Data-Juicer, which lower-cases words (and strips digits and symbols from their edges)
    before counting repeats, case is kept: with rep_len 1, "Yes yes YES yes" has ratio 0.5 here
    (only "yes" repeats), 1.0 in Data-Juicer.
    """

    name = "word_repetition_filter"
    family: ClassVar[str] = "text_stats"
    ranges: ClassVar[tuple[Range, ...]] = _ratio_range("word_rep_ratio")
    rep_len: int = Field(10, ge=1, le=64, description="word n-gram length (Data-Juicer: 10)")
    min_ratio: float | None = Field(None, ge=0, le=1, description="minimum ratio (Data-Juicer: 0)")
    max_ratio: float | None = Field(0.5, ge=0, le=1, description="maximum ratio (Data-Juicer: 0.5)")

    def compute_stats(self, table: pa.Table) -> pa.Table:
        words = split_words(text_array(table))
        index = NgramIndex(words.values, words.offsets)
        repeated = np.zeros(index.num_docs, dtype=np.int64)
        for rep in index.repeated(self.rep_len):
            if rep.n == self.rep_len:
                repeated = np.bincount(index.parents[rep.starts], minlength=index.num_docs)
        return add_columns(table, {"text_word_rep_ratio": (ratio(repeated, index.ngrams_per_doc(self.rep_len)), F64)})


@register
class LineLengthFilter(RuleFilter):
    """Keep documents whose average and maximum line lengths (characters) are within bounds.

    Lines: the shared splitter (non-blank, stripped). Average: mean characters per line
    (Data-Juicer divides the whole text's length, newlines included, by the line count).
    Defaults: average and maximum at least 10 (Data-Juicer average_line_length_filter and
    maximum_line_length_filter), no upper bounds.
    """

    name = "line_length_filter"
    family: ClassVar[str] = "text_stats"
    ranges: ClassVar[tuple[Range, ...]] = (
        Range("text_avg_line_length", "min_avg_length", "max_avg_length", "avg_line_length_too_short", "avg_line_length_too_long"),
        Range("text_max_line_length", "min_max_length", "max_max_length", "max_line_length_too_short", "max_line_length_too_long"),
    )
    min_avg_length: float | None = Field(10, ge=0, description="minimum average line length (Data-Juicer: 10)")
    max_avg_length: float | None = Field(None, ge=0, description="maximum average line length (Data-Juicer: none)")
    min_max_length: float | None = Field(10, ge=0, description="minimum longest-line length (Data-Juicer: 10)")
    max_max_length: float | None = Field(None, ge=0, description="maximum longest-line length (Data-Juicer: none)")

    def compute_stats(self, table: pa.Table) -> pa.Table:
        lines = split_lines(text_array(table))
        lengths = lines.lengths()
        return add_columns(table, {
            "text_avg_line_length": (ratio(lines.sum(lengths), lines.counts()), F64),
            "text_max_line_length": (lines.max(lengths), pa.int64()),
        })
