"""Gopher repetition rules (Rae et al. 2021, "Scaling Language Models: Methods, Analysis &
Insights from Training Gopher", §A.1.1 and Table A1)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pyarrow as pa
from pydantic import Field

from operators.base import Rule, RuleFilter, add_columns, ratio
from operators.quality._repetition import NgramIndex, RepeatedNgrams, repeated_pieces
from operators.registry import register
from operators.text.splitting import split_lines, split_paragraphs, split_words, text_array

F64 = pa.float64()
TOP_NS = (2, 3, 4)
DUP_NS = (5, 6, 7, 8, 9, 10)


@register
class GopherRepetitionFilter(RuleFilter):
    """Remove documents with repeated lines, paragraphs or word n-grams (Gopher, Rae et al. 2021).

    Thresholds are the paper's (Table A1): duplicate line fraction 0.30, duplicate paragraph
    fraction 0.30, characters in duplicate lines 0.20, in duplicate paragraphs 0.20; characters
    in the most frequent 2/3/4-gram 0.20/0.18/0.16; characters in duplicated 5..10-grams
    0.15/0.14/0.13/0.12/0.11/0.10. A document is removed when a fraction is above its threshold.

    Definitions (shared splitter, `operators.text.splitting`): a duplicate line/paragraph is one
    equal to an earlier line/paragraph of the document; line character fractions are over the
    characters of all lines (paragraphs likewise). N-grams are over words; their character
    fractions count word characters (no spaces) over all word characters. "Most frequent
    n-gram": the one with the most occurrences (ties: the longest), counted only if it occurs at
    least twice; its value is the characters its occurrences cover, each character once.
    "Duplicated n-grams": every occurrence of an n-gram that occurs more than once; a character
    is counted once however many such n-grams cover it (datatrove counts only occurrences after
    the first, greedily, so its values are lower).

    Against datatrove 0.10.1 (`bench/peers/agreement_datatrove.py`, corpus_en parts 0-1, 20,000
    documents, 2026-12-02): the line and paragraph rules agree on all but 3 documents, and every
    document datatrove removes for duplicated 5..10-grams is removed here too. The top 2/3/4-gram
    rules differ by definition, and datatrove alone removes 1,691 documents for them (794, 576,
    321). Its value is len(" ".join(top n-gram)) times its count, over len(text): the numerator
    counts the spaces inside the n-gram and counts overlapping occurrences again; the denominator
    counts every character of the text, spaces and punctuation included; its words are spaCy
    tokens, so punctuation marks are words of their own (", and", ". The"); and the top n-gram
    counts even when it occurs once, so in a short text any 2-gram is a large fraction.
    Recomputing datatrove's value on those 1,691: with the top n-gram required to occur twice it
    would still remove 225; with punctuation tokens dropped, 1,494; with both, 7
    (`bench/peers/agreement_attribution.py`). So the n-gram seen once is the main difference: the
    1,691 are short (median 10 words) and `gopher_quality_filter` removes 1,522 of them here. The
    paper leaves the "most frequent n-gram" of a text without repetition undefined; this
    repetition rule ignores it.

    Set any threshold to null to turn that rule off.
    """

    name = "gopher_repetition_filter"
    family: ClassVar[str] = "gopher_repetition"

    max_dup_line_frac: float | None = Field(0.30, ge=0, le=1, description="fraction of duplicate lines (Gopher Table A1: 0.30)")
    max_dup_para_frac: float | None = Field(0.30, ge=0, le=1, description="fraction of duplicate paragraphs (Gopher: 0.30)")
    max_dup_line_char_frac: float | None = Field(0.20, ge=0, le=1, description="characters in duplicate lines (Gopher: 0.20)")
    max_dup_para_char_frac: float | None = Field(0.20, ge=0, le=1, description="characters in duplicate paragraphs (Gopher: 0.20)")
    max_top_2gram_char_frac: float | None = Field(0.20, ge=0, le=1, description="characters in the most frequent 2-gram (Gopher: 0.20)")
    max_top_3gram_char_frac: float | None = Field(0.18, ge=0, le=1, description="characters in the most frequent 3-gram (Gopher: 0.18)")
    max_top_4gram_char_frac: float | None = Field(0.16, ge=0, le=1, description="characters in the most frequent 4-gram (Gopher: 0.16)")
    max_dup_5gram_char_frac: float | None = Field(0.15, ge=0, le=1, description="characters in duplicated 5-grams (Gopher: 0.15)")
    max_dup_6gram_char_frac: float | None = Field(0.14, ge=0, le=1, description="characters in duplicated 6-grams (Gopher: 0.14)")
    max_dup_7gram_char_frac: float | None = Field(0.13, ge=0, le=1, description="characters in duplicated 7-grams (Gopher: 0.13)")
    max_dup_8gram_char_frac: float | None = Field(0.12, ge=0, le=1, description="characters in duplicated 8-grams (Gopher: 0.12)")
    max_dup_9gram_char_frac: float | None = Field(0.11, ge=0, le=1, description="characters in duplicated 9-grams (Gopher: 0.11)")
    max_dup_10gram_char_frac: float | None = Field(0.10, ge=0, le=1, description="characters in duplicated 10-grams (Gopher: 0.10)")

    def rules(self) -> list[Rule]:
        rules: list[Rule] = [
            ("gopher_dup_para_frac", ">", self.max_dup_para_frac, "dup_para_frac"),
            ("gopher_dup_para_char_frac", ">", self.max_dup_para_char_frac, "dup_para_char_frac"),
            ("gopher_dup_line_frac", ">", self.max_dup_line_frac, "dup_line_frac"),
            ("gopher_dup_line_char_frac", ">", self.max_dup_line_char_frac, "dup_line_char_frac"),
        ]
        for n in TOP_NS:
            rules.append((f"gopher_top_{n}gram_char_frac", ">", getattr(self, f"max_top_{n}gram_char_frac"), f"top_{n}gram_char_frac"))
        for n in DUP_NS:
            rules.append((f"gopher_dup_{n}gram_char_frac", ">", getattr(self, f"max_dup_{n}gram_char_frac"), f"dup_{n}gram_char_frac"))
        return rules

    def compute_stats(self, table: pa.Table) -> pa.Table:
        texts = text_array(table)
        columns: dict[str, tuple[np.ndarray, pa.DataType]] = {}
        for kind, pieces in (("para", split_paragraphs(texts)), ("line", split_lines(texts))):
            dup_count, dup_chars = repeated_pieces(pieces)
            columns[f"gopher_dup_{kind}_frac"] = (ratio(dup_count, pieces.counts()), F64)
            columns[f"gopher_dup_{kind}_char_frac"] = (ratio(dup_chars, pieces.sum(pieces.lengths())), F64)
        columns.update(ngram_stats(texts))
        return add_columns(table, columns)


def ngram_stats(texts: pa.Array) -> dict[str, tuple[np.ndarray, pa.DataType]]:
    """Top-n-gram (n = 2..4) and duplicated-n-gram (n = 5..10) character fractions."""
    words = split_words(texts)
    lengths = words.lengths()
    total_chars = words.sum(lengths)
    index = NgramIndex(words.values, words.offsets)
    char_cum = np.concatenate([[0], np.cumsum(lengths)])
    out: dict[str, tuple[np.ndarray, pa.DataType]] = {}
    zeros = np.zeros(len(texts), dtype=np.float64)
    for rep in index.repeated(max(DUP_NS)):
        n = rep.n
        if n in TOP_NS:
            out[f"gopher_top_{n}gram_char_frac"] = (ratio(top_ngram_chars(index, rep, char_cum), total_chars), F64)
        if n in DUP_NS:
            out[f"gopher_dup_{n}gram_char_frac"] = (ratio(index.covered_sum(rep.starts, n, char_cum), total_chars), F64)
    for n in TOP_NS:
        out.setdefault(f"gopher_top_{n}gram_char_frac", (zeros, F64))
    for n in DUP_NS:
        out.setdefault(f"gopher_dup_{n}gram_char_frac", (zeros, F64))
    return dict(sorted(out.items(), key=lambda kv: _order(kv[0])))


def top_ngram_chars(index: NgramIndex, rep: RepeatedNgrams, char_cum: np.ndarray) -> np.ndarray:
    """Per document: characters covered by the occurrences of its most frequent repeated n-gram
    (ties: the one with more characters, then the one that occurs first)."""
    if len(rep.starts) == 0:
        return np.zeros(index.num_docs, dtype=np.int64)
    n = rep.n
    count = rep.group_count[rep.group]
    chars = char_cum[rep.starts + n] - char_cum[rep.starts]
    doc = index.parents[rep.starts]
    order = np.lexsort((rep.starts, -chars, -count, doc))
    first = order[np.concatenate([[True], doc[order][1:] != doc[order][:-1]])]
    best_group = np.full(index.num_docs, -1, dtype=np.int64)
    best_group[doc[first]] = rep.group[first]
    mine = rep.group == best_group[doc]
    return index.covered_sum(rep.starts[mine], n, char_cum)


def _order(name: str) -> tuple[int, int]:
    n = int("".join(ch for ch in name.split("_")[2] if ch.isdigit()))
    return (0 if "top" in name else 1, n)
