"""Gopher quality rules (Rae et al. 2021, §A.1.1 "Quality filtering" and Table A1)."""

from __future__ import annotations

import re
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from operators.base import Range, Rule, RuleFilter, add_columns, bool_values, int64_values, ratio
from operators.registry import register
from operators.text.splitting import char_class, codepoints, segment_sum, split_lines, split_words, text_array

# The paper's stop words ("at least two of: the, be, to, of, and, that, have, with").
GOPHER_STOP_WORDS = ["the", "be", "to", "of", "and", "that", "have", "with"]
# Unicode bullet characters, and "- " / "* " list markers (the paper names no characters).
DEFAULT_BULLETS = ["•", "‣", "⁃", "◦", "▪", "▫", "●", "○", "■", "□", "➢", "➤", "►", "▶", "- ", "* "]


@register
class GopherQualityFilter(RuleFilter):
    """Remove documents that fail Gopher's quality heuristics (Rae et al. 2021, §A.1.1).

    Paper thresholds: 50 to 100,000 words; mean word length 3 to 10 characters; symbol-to-word
    ratio above 0.1 for the hash symbol or for the ellipsis ("..." or "…"); more than 90% of
    lines starting with a bullet point; more than 30% of lines ending with an ellipsis; fewer
    than 80% of words containing an alphabetic character; fewer than 2 of the stop words "the,
    be, to, of, and, that, have, with".

    Words, lines: the shared splitter (`operators.text.splitting`): punctuation-only tokens are
    not words and words lose surrounding punctuation, as in datatrove's non-punctuation word
    count; stop words match case-insensitively (lower, Capitalized and UPPER forms; datatrove
    matches lower case only) and every occurrence counts. Bullets: the paper names no
    characters; the default is Unicode bullets plus "- " and "* " list markers (datatrove:
    "•" only). Set a threshold to null to turn its rule off.

    Against datatrove 0.10.1 (`bench/peers/agreement_datatrove.py`, corpus_en parts 0-1, 20,000
    documents, 2026-12-02): datatrove alone removes 2,350 documents, 2,337 of them for the
    alphabetic-words rule. Its words there are all spaCy tokens, punctuation marks included
    (its word-count rule leaves them out, this rule does not), so every "," or "." is a word
    without a letter; with punctuation tokens left out of that rule, 2 of the 2,337 would still
    fail it (`bench/peers/agreement_attribution.py`). The paper's rule is about words ("80% of
    words ... contain at least one alphabetic character"), which punctuation marks are not.
    Also: 12 documents for the stop-word rule (datatrove counts distinct lower-case stop words,
    here every occurrence in any case) and 1 for bullets. This filter alone removes 42, 41 of
    them for too few words (50 or more spaCy tokens with a non-punctuation character there,
    fewer than 50 words here).
    """

    name = "gopher_quality_filter"
    family: ClassVar[str] = "gopher_quality"
    ranges: ClassVar[tuple[Range, ...]] = (
        Range("gopher_word_count", "min_words", "max_words", "too_few_words", "too_many_words"),
        Range("gopher_mean_word_length", "min_mean_word_length", "max_mean_word_length",
              "mean_word_length_too_short", "mean_word_length_too_long"),
    )

    min_words: int | None = Field(50, ge=0, description="minimum words (Gopher: 50)")
    max_words: int | None = Field(100_000, ge=0, description="maximum words (Gopher: 100,000)")
    min_mean_word_length: float | None = Field(3, ge=0, description="minimum mean word length in characters (Gopher: 3)")
    max_mean_word_length: float | None = Field(10, ge=0, description="maximum mean word length (Gopher: 10)")
    max_hash_ratio: float | None = Field(0.1, ge=0, description="maximum '#' per word (Gopher symbol-to-word ratio: 0.1)")
    max_ellipsis_ratio: float | None = Field(0.1, ge=0, description="maximum '...'/'…' per word (Gopher: 0.1)")
    max_bullet_lines_frac: float | None = Field(0.9, ge=0, le=1, description="maximum fraction of lines starting with a bullet (Gopher: 0.9)")
    max_ellipsis_lines_frac: float | None = Field(0.3, ge=0, le=1, description="maximum fraction of lines ending with an ellipsis (Gopher: 0.3)")
    min_alpha_words_frac: float | None = Field(0.8, ge=0, le=1, description="minimum fraction of words with a letter (Gopher: 0.8)")
    min_stop_words: int | None = Field(2, ge=0, description="minimum stop-word occurrences (Gopher: 2)")
    stop_words: list[str] = Field(default_factory=lambda: list(GOPHER_STOP_WORDS), description="stop words (Gopher's eight English words)")
    bullets: list[str] = Field(default_factory=lambda: list(DEFAULT_BULLETS), description="line prefixes that mark a bullet line")

    def rules(self) -> list[Rule]:
        return self.range_rules() + [
            ("gopher_hash_ratio", ">", self.max_hash_ratio, "hash_ratio"),
            ("gopher_ellipsis_ratio", ">", self.max_ellipsis_ratio, "ellipsis_ratio"),
            ("gopher_bullet_lines_frac", ">", self.max_bullet_lines_frac, "bullet_lines_frac"),
            ("gopher_ellipsis_lines_frac", ">", self.max_ellipsis_lines_frac, "ellipsis_lines_frac"),
            ("gopher_alpha_words_frac", "<", self.min_alpha_words_frac, "alpha_words_frac"),
            ("gopher_stop_word_count", "<", self.min_stop_words, "stop_word_count"),
        ]

    def compute_stats(self, table: pa.Table) -> pa.Table:
        texts = text_array(table)
        words = split_words(texts)
        n_words = words.counts()
        cps, char_offsets = codepoints(words.values)
        lengths = np.diff(char_offsets)
        letters = segment_sum(char_class("L")[cps], char_offsets)  # letters per word
        hashes = int64_values(pc.count_substring(texts, "#"))
        ellipses = int64_values(pc.count_substring(texts, "...")) + int64_values(pc.count_substring(texts, "…"))
        lines = split_lines(texts)
        bullet = pc.match_substring_regex(lines.values, "^(?:" + "|".join(re.escape(b) for b in self.bullets) + ")") \
            if self.bullets else pa.array(np.zeros(len(lines), dtype=bool))
        ellipsis_end = pc.match_substring_regex(lines.values, r"(?:\.\.\.|…)$")
        stop = pc.is_in(words.values, value_set=pa.array(_case_forms(self.stop_words), pa.string()))
        return add_columns(table, {
            "gopher_word_count": (n_words, pa.int64()),
            "gopher_mean_word_length": (ratio(words.sum(lengths), n_words), pa.float64()),
            "gopher_hash_ratio": (ratio(hashes, n_words), pa.float64()),
            "gopher_ellipsis_ratio": (ratio(ellipses, n_words), pa.float64()),
            "gopher_bullet_lines_frac": (ratio(lines.sum(bool_values(bullet)), lines.counts()), pa.float64()),
            "gopher_ellipsis_lines_frac": (ratio(lines.sum(bool_values(ellipsis_end)), lines.counts()), pa.float64()),
            "gopher_alpha_words_frac": (ratio(words.sum(letters > 0), n_words), pa.float64()),
            "gopher_stop_word_count": (words.sum(bool_values(stop)), pa.int64()),
        })


def _case_forms(words: list[str]) -> list[str]:
    forms = {f for w in words for f in (w.lower(), w.lower().capitalize(), w.upper())}
    return sorted(forms)
