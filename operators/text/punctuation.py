"""`normalize_punctuation`: Unicode punctuation to ASCII with CCNet's table."""

from __future__ import annotations

import functools
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from operators.base import Mapper, with_column
from operators.lm.normalize import UNICODE_PUNCT
from operators.registry import register
from operators.text.rewrite import batch_text, count_matches, rewrite_rows, set_text

# CCNet maps U+FF11 (full-width digit one) to '"', an apparent slip in its table: it would turn
# "１２" into '"２'. Here it is left alone (Data-Juicer keeps CCNet's entry).
NOT_PUNCTUATION = {"\uff11"}


@functools.cache
def replacement_groups() -> tuple[tuple[str, str], ...]:
    """(RE2 character class, replacement) per distinct replacement of the table: one regex pass
    per replacement instead of one per character."""
    by_target: dict[str, list[str]] = {}
    for char, target in UNICODE_PUNCT.items():
        if char not in NOT_PUNCTUATION:
            by_target.setdefault(target, []).append(char)
    return tuple(("[" + "".join(re.escape(c) for c in chars) + "]", target) for target, chars in by_target.items())


@functools.cache
def any_mapped() -> str:
    return "[" + "".join(re.escape(c) for c in UNICODE_PUNCT if c not in NOT_PUNCTUATION) + "]"


@register
class NormalizePunctuation(Mapper):
    """Replace Unicode punctuation with ASCII: CCNet's table (cc_net/text_normalizer.py
    UNICODE_PUNCT, which Data-Juicer's punctuation_normalization_mapper also uses).

    Full-width and CJK punctuation (，。、：？！（）；～％【】〈〉) map to their ASCII forms, curly
    and angle quotes («» „ “ ” 「」 《》) to '"', ´ and ’ to "'", the en dash and ━ ► to "-", the em
    dash to " - ", … to "...", and the full-width full stop to ". ". One difference from CCNet
    and Data-Juicer: the full-width digit one "１", which their table maps to '"', is left alone.

    Adds `punctuation_replaced` (int32, characters replaced per document) when
    `count_column` is set; metrics `normalize_punctuation:chars_replaced`,
    `normalize_punctuation:documents_changed`.
    """

    name = "normalize_punctuation"
    count_column: str | None = Field(None, description="column for the number of characters replaced; null: none")

    def process(self, table: pa.Table) -> pa.Table:
        before = batch_text(table)
        counts = count_matches(before, any_mapped())
        self.add_metric(f"{self.name}:chars_replaced", int(counts.sum()))

        def replace(texts: pa.Array) -> pa.Array:
            for pattern, target in replacement_groups():
                texts = pc.replace_substring_regex(texts, pattern, target.replace("\\", "\\\\"))
            return texts

        after = rewrite_rows(before, pa.array(counts > 0), replace)
        table = set_text(self, table, before, after)
        if self.count_column:
            table = with_column(table, self.count_column, pa.array(counts.astype(np.int32)), pa.int32())
        return table
