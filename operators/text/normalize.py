"""Unicode and whitespace normalization."""

from __future__ import annotations

from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from operators.base import TEXT, Mapper, with_column
from operators.registry import register


@register
class NormalizeText(Mapper):
    """Normalize Unicode (NFC by default) and whitespace: collapse runs of spaces and tabs,
    strip line ends, keep at most one blank line between paragraphs, trim the document."""

    name = "normalize_text"

    form: Literal["NFC", "NFKC", "NFD", "NFKD"] | None = Field("NFC", description="Unicode normal form, or null to skip")
    collapse_whitespace: bool = Field(True, description="collapse spaces/tabs and blank-line runs")

    def process(self, table: pa.Table) -> pa.Table:
        text = pc.fill_null(table.column(TEXT), "")
        if self.form:
            text = pc.utf8_normalize(text, form=self.form)
        if self.collapse_whitespace:
            text = pc.replace_substring_regex(text, r"\r\n?", "\n")
            text = pc.replace_substring_regex(text, r"[ \t\f\v\x{00A0}\x{3000}]+", " ")
            text = pc.replace_substring_regex(text, r" ?\n ?", "\n")
            text = pc.replace_substring_regex(text, r"\n{3,}", "\n\n")
            text = pc.utf8_trim_whitespace(text)
        return with_column(table, TEXT, text)
