"""`remove_links`: URLs removed from text, counted per document."""

from __future__ import annotations

import pyarrow as pa
from pydantic import Field

from operators.base import Mapper
from operators.registry import register
from operators.text.rewrite import remove_matches

# Python's \w and \s are Unicode-aware, RE2's are ASCII: spelled out as classes here.
_WORD = r"[\p{L}\p{N}\p{Mn}_]"
_SPACE = r"[\t\n\x0b\x0c\r\x1c-\x1f \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]"
_PLAIN = r"[^" + _SPACE[1:-1] + r"()<>]"  # neither space nor parenthesis nor angle bracket
_PARENS = r"\((?:" + _PLAIN + r"+|\(" + _PLAIN + r"+\))*\)"  # balanced parentheses, two levels deep
# What may end a URL: not space, not a parenthesis, not trailing punctuation.
_LAST = r"[^" + _SPACE[1:-1] + r"`!()\[\]{};:'\".,<>?\x{ab}\x{bb}\x{201c}\x{201d}\x{2018}\x{2019}]"

# A URL, as John Gruber's "liberal, accurate regex pattern for matching URLs" defines it
# (daringfireball.net/2010/07/improved_regex_for_matching_urls; public domain): a scheme
# ("word:" then 1-3 slashes or a letter, digit or %), or "www.", "www1." ..., or "host.tld/";
# then runs of non-space characters or balanced parentheses, not ending in punctuation.
URL_PATTERN = (
    r"(?i)\b(?:[a-z]" + _WORD[:-1] + r"-]+:(?:/{1,3}|[a-z0-9%])|www\d{0,3}[.]|[a-z0-9.\-]+[.][a-z]{2,4}/)"
    r"(?:" + _PLAIN + r"+|" + _PARENS + r")+(?:" + _PARENS + r"|" + _LAST + r")"
)


@register
class RemoveLinks(Mapper):
    """Remove URLs (http, https, ftp, any `scheme:`, `www.` and `host.tld/` forms) from text.

    URL: John Gruber's liberal URL pattern (see URL_PATTERN), the definition Data-Juicer's
    clean_links_mapper uses; written here for RE2 with Unicode letters and spaces spelled out,
    so a scheme may hold non-ASCII letters ("http测试://") as in Data-Juicer. Each URL is
    replaced by `replacement` (default: removed).

    Adds `count_column` (int32, URLs per document; default `link_count`); metrics
    `remove_links:links`, `remove_links:documents_changed`, `remove_links:chars_removed`.
    """

    name = "remove_links"
    replacement: str = Field("", description="text put in place of each URL (Data-Juicer: repl, default empty)")
    count_column: str | None = Field("link_count", description="column for URLs per document; null: none")

    def process(self, table: pa.Table) -> pa.Table:
        return remove_matches(self, table, URL_PATTERN, self.replacement, "links", self.count_column)
