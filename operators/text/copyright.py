"""`remove_copyright`: licence and copyright comment blocks at the top of source files."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from operators.base import Mapper
from operators.registry import register
from operators.text.rewrite import batch_text, rewrite_rows, set_text

# A C-style block comment, shortest form: "/*", then anything up to the first "*/".
BLOCK_COMMENT = r"/\*[^*]*\*+(?:[^/*][^*]*\*+)*/"
# Leading lines that are empty or start with "//", "#" or "--" (each up to and with its "\n").
LEADING_COMMENT_LINES = r"^(?:(?://|#|--)[^\n]*(?:\n|$)|\n)+"


@register
class RemoveCopyright(Mapper):
    """Remove licence and copyright comments from the top of source files (RedPajama's GitHub
    cleaning rule, which Data-Juicer's clean_copyright_mapper follows).

    If the text has a `/* ... */` block comment, the first one is removed when it contains
    "copyright" (any case), and nothing else changes. Otherwise, with `line_comments`, the
    leading lines that are empty or start with `//`, `#` or `--` are removed (most such headers
    are licences). That rule is greedy by design: it also removes leading `#include`, `#!` and
    Markdown headings, and a text made only of such lines becomes empty.

    Metrics: `remove_copyright:documents_changed`, `remove_copyright:chars_removed`.
    """

    name = "remove_copyright"
    line_comments: bool = Field(True, description="without a block comment, remove leading //, # and -- lines")

    def process(self, table: pa.Table) -> pa.Table:
        before = batch_text(table)
        if len(before) == 0:
            return set_text(self, table, before, before)
        first_block = pc.struct_field(pc.extract_regex(before, f"(?P<block>{BLOCK_COMMENT})"), "block")
        has_block = pc.is_valid(first_block)
        names_copyright = pc.match_substring(first_block, "copyright", ignore_case=True)
        after = rewrite_rows(before, names_copyright,
                             lambda t: pc.replace_substring_regex(t, BLOCK_COMMENT, "", max_replacements=1))
        if self.line_comments:
            starts_with_comment = pc.match_substring_regex(before, r"^(?://|#|--|\n)")
            needs = pc.and_(pc.invert(has_block), starts_with_comment)
            after = rewrite_rows(after, needs,
                                 lambda t: pc.replace_substring_regex(t, LEADING_COMMENT_LINES, "", max_replacements=1))
        return set_text(self, table, before, after)
