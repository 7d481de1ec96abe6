"""Unicode and whitespace normalization."""

from __future__ import annotations

from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from operators.base import Mapper
from operators.registry import register
from operators.text.rewrite import batch_text, set_text

# Data-Juicer's whitespace_normalization_mapper set (data_juicer/ops/common/special_characters.py
# VARIOUS_WHITESPACES, from BigScience's data-preparation): tab, space, the Unicode spaces
# U+2000-U+200A, U+00A0, U+202F, U+205F, U+3000, the zero-width U+200B-U+200D and U+2060, the
# object replacement character U+FFFC and the C1 control U+0084.
UNICODE_SPACES = r"[\t \x{2000}-\x{200a}\x{a0}\x{202f}\x{205f}\x{3000}\x{200b}-\x{200d}\x{2060}\x{fffc}\x{84}]"


@register
class NormalizeText(Mapper):
    """Normalize Unicode (NFC by default) and whitespace: collapse runs of spaces and tabs,
    strip line ends, keep at most one blank line between paragraphs, trim the document.

    `unicode_spaces: true` first replaces each character of Data-Juicer's whitespace set (the
    Unicode space separators, the zero-width space / joiners U+200B-U+200D and U+2060, U+FFFC,
    U+0084) by one ASCII space. Off by default: the zero-width joiner and non-joiner carry
    meaning in emoji sequences and in Persian and Indic scripts. Data-Juicer's
    whitespace_normalization_mapper is `{form: null, collapse_whitespace: false,
    unicode_spaces: true, trim: true}` (it strips the text, then maps one for one).
    `trim` strips whitespace (`str.isspace`) at both ends of the document; collapsing also trims.

    Metrics: `normalize_text:documents_changed`, `normalize_text:chars_removed`.
    """

    name = "normalize_text"

    form: Literal["NFC", "NFKC", "NFD", "NFKD"] | None = Field("NFC", description="Unicode normal form, or null to skip")
    collapse_whitespace: bool = Field(True, description="collapse spaces/tabs and blank-line runs")
    unicode_spaces: bool = Field(False, description="map Unicode spaces and zero-width characters to ' ' (Data-Juicer's set)")
    trim: bool = Field(False, description="strip whitespace at both ends of the document (collapsing also does)")

    def process(self, table: pa.Table) -> pa.Table:
        before = batch_text(table)
        text = before
        if self.form:
            text = pc.utf8_normalize(text, form=self.form)
        if self.trim:
            text = pc.utf8_trim_whitespace(text)
        if self.unicode_spaces:
            text = pc.replace_substring_regex(text, UNICODE_SPACES, " ")
        if self.collapse_whitespace:
            text = pc.replace_substring_regex(text, r"\r\n?", "\n")
            text = pc.replace_substring_regex(text, r"[ \t\f\v\x{00A0}\x{3000}]+", " ")
            text = pc.replace_substring_regex(text, r" ?\n ?", "\n")
            text = pc.replace_substring_regex(text, r"\n{3,}", "\n\n")
            text = pc.utf8_trim_whitespace(text)
        return set_text(self, table, before, text)
