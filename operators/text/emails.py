"""`remove_emails`: e-mail addresses removed from text, counted per document."""

from __future__ import annotations

import pyarrow as pa
from pydantic import Field

from operators.base import Mapper
from operators.registry import register
from operators.text.rewrite import remove_matches

# local part, "@", domain with at least one dot and a letters-only last label
EMAIL_PATTERN = r"[A-Za-z0-9.+_-]+@[A-Za-z0-9.+_-]+\.[A-Za-z]+"


@register
class RemoveEmails(Mapper):
    """Remove e-mail addresses: a light, regex-only option beside `pii_scrubber` (which finds
    them with presidio, with context, and can tag, hash or fake them).

    Address: ASCII letters, digits and `.+_-`, then "@", then a domain of the same characters
    with a dot and a final label of letters (Data-Juicer clean_email_mapper's pattern, except
    that the domain may be upper case here: domains are case-insensitive). Each address is
    replaced by `replacement` (default: removed).

    Adds `count_column` (int32, addresses per document; default `email_count`); metrics
    `remove_emails:emails`, `remove_emails:documents_changed`, `remove_emails:chars_removed`.
    """

    name = "remove_emails"
    replacement: str = Field("", description="text put in place of each address (Data-Juicer: repl, default empty)")
    count_column: str | None = Field("email_count", description="column for addresses per document; null: none")

    def process(self, table: pa.Table) -> pa.Table:
        return remove_matches(self, table, EMAIL_PATTERN, self.replacement, "emails", self.count_column)
