"""Text normalization exactly as CCNet does before SentencePiece and the n-gram model.

CCNet (facebookresearch/cc_net, `cc_net/text_normalizer.py`, `normalize`): strip the line,
lowercase, strip accents (NFD, then drop combining marks, category Mn; the text stays in NFD),
every Unicode decimal digit (category Nd) becomes `0`, a fixed set of Unicode punctuation is
mapped to ASCII, and control characters (U+0000-U+001F, U+007F-U+009F) are removed.

`normalize_line` is the one-line reference; `normalize_lines` gives the same result for many
lines at once (what the scorer and the trainer use).
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata

# CCNet's punctuation map (cc_net/text_normalizer.py, UNICODE_PUNCT), as data.
UNICODE_PUNCT: dict[str, str] = {
    "\uff0c": ",", "\u3002": ".", "\u3001": ",", "\u201e": '"', "\u201d": '"', "\u201c": '"',
    "\u00ab": '"', "\u00bb": '"', "\uff11": '"', "\u300d": '"', "\u300c": '"', "\u300a": '"',
    "\u300b": '"', "\u00b4": "'", "\u2236": ":", "\uff1a": ":", "\uff1f": "?", "\uff01": "!",
    "\uff08": "(", "\uff09": ")", "\uff1b": ";", "\u2013": "-", "\u2014": " - ", "\uff0e": ". ",
    "\uff5e": "~", "\u2019": "'", "\u2026": "...", "\u2501": "-", "\u3008": "<", "\u3009": ">",
    "\u3010": "[", "\u3011": "]", "\uff05": "%", "\u25ba": "-",
}
CONTROL_CHARS = [*range(0, 32), *range(127, 160)]


@functools.cache
def _non_ascii_table() -> dict[int, str | None]:
    """What happens to each non-ASCII character after lowercase and NFD: combining marks (Mn)
    and C1 control characters are deleted, Unicode decimal digits (Python's `\\d`, as CCNet's
    DIGIT_RE) become 0, CCNet's punctuation is mapped. The classes are disjoint except U+FF11
    (fullwidth one), which CCNet turns into 0 because digits go before punctuation; so here."""
    table: dict[int, str | None] = {}
    for cp in range(128, sys.maxunicode + 1):
        cat = unicodedata.category(chr(cp))
        if cat == "Mn":
            table[cp] = None
        elif cat == "Nd":
            table[cp] = "0"
    for char, repl in UNICODE_PUNCT.items():
        table.setdefault(ord(char), repl)
    for cp in CONTROL_CHARS:
        if cp >= 128:
            table[cp] = None
    return table


_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")
_ASCII_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_ASCII_DIGIT = re.compile(r"[0-9]")


def _normalize_stripped(line: str) -> str:
    line = unicodedata.normalize("NFD", line.lower())
    table = _non_ascii_table()
    # str.translate is slow per character on non-ASCII strings: translate only the non-ASCII
    # runs, and do the ASCII part (digits, control characters) with small regexes.
    line = _NON_ASCII_RUN.sub(lambda m: m.group().translate(table), line)
    return _ASCII_DIGIT.sub("0", _ASCII_CONTROL.sub("", line))


def normalize_line(line: str) -> str:
    """CCNet's `normalize(line)` with its defaults (accent, case, numbers, punct=1)."""
    line = line.strip()
    if not line:
        return line
    return _normalize_stripped(line)


def normalize_lines(lines: list[str]) -> list[str]:
    """`normalize_line` of each line (lines must not contain '\\n'), fast.

    ASCII lines (nearly all, in English) go through `bytes.lower` and `bytes.translate` in one
    joined pass; for them CCNet's steps reduce to lowercase, ASCII digits to 0 and deleting
    ASCII control characters. Other lines take the full path, with regexes (which skip the
    ASCII majority of their characters quickly)."""
    stripped = [line.strip() for line in lines]
    ascii_mask = [line.isascii() for line in stripped]
    out = stripped
    ascii_lines = [line for line, a in zip(stripped, ascii_mask) if a]
    if ascii_lines:
        joined = "\n".join(ascii_lines).encode("ascii").lower().translate(_ASCII_DIGITS, _ASCII_CONTROLS)
        normalized = iter(joined.decode("ascii").split("\n"))
        out = [next(normalized) if a else line for line, a in zip(stripped, ascii_mask)]
    if not all(ascii_mask):
        out = [line if a else _normalize_stripped(line) for line, a in zip(out, ascii_mask)]
    return out


_ASCII_DIGITS = bytes(range(256)).replace(b"0123456789", b"0" * 10)
# ASCII control characters except '\n', which separates the joined lines.
_ASCII_CONTROLS = bytes(c for c in [*range(32), 127] if c != 10)


def document_lines(texts: list[str]) -> tuple[list[str], list[int]]:
    """All lines of all documents (split on '\\n', as CCNet's DocLM) and each document's line count."""
    lines: list[str] = []
    counts: list[int] = []
    for text in texts:
        parts = text.split("\n")
        lines.extend(parts)
        counts.append(len(parts))
    return lines, counts
