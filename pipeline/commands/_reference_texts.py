"""What the training commands share: `--where` row filters, and texts of files read with the
run's readers (operators read files only through what the pipeline hands them)."""

from __future__ import annotations

from collections.abc import Iterator

from operators.lm.reference import iter_texts
from pipeline.io.documents import read_documents


def parse_where(items: list[str]) -> dict[str, list[str]]:
    """['source=bbc_news,wikitext2', 'lang=en'] -> {'source': ['bbc_news', 'wikitext2'], 'lang': ['en']}."""
    out: dict[str, list[str]] = {}
    for item in items:
        column, sep, values = item.partition("=")
        if not sep or not column or not values:
            raise ValueError(f"--where {item!r}: expected COLUMN=VALUE[,VALUE...]")
        out.setdefault(column.strip(), []).extend(v.strip() for v in values.split(",") if v.strip())
    return out


def file_texts(paths: str | list[str], text_column: str = "text", conditions: dict[str, list[str]] | None = None,
               lang: str | None = None) -> Iterator[str]:
    return iter_texts(read_documents(paths, text_column), conditions, lang)
