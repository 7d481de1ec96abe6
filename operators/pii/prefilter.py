"""The fast path: cheap triggers that find where presidio could possibly match.

Each trigger is a *necessary condition* of one presidio recognizer: its regex with the word
boundaries, look-arounds and validations removed, so that every presidio finding lies on a
trigger match. Only windows around trigger matches go to presidio, and each window only to the
recognizer its trigger belongs to. Most of a document (and most documents) never reach presidio.

Digits are scanned once: card, SSN and IPv4 triggers are searched only inside digit clusters
long enough to hold them. Phone numbers are the exception, because presidio finds them with the
phonenumbers library: the trigger is the digit cluster itself, built like phonenumbers' own
candidate pattern (digits joined by at most four of its punctuation characters). A cluster of 7+ digits always opens a window;
shorter clusters (years, prices, counts) are first run alone through the same recognizer and
the verdict is cached per cluster text. Alone, a cluster can only match more than in context
(phonenumbers' context checks reject, never accept), so a negative verdict is safe.

Windows end on whitespace (so tokens and regex word boundaries inside them are the same as in
the whole document) and never cut a digit cluster; long windows are analyzed in overlapping
chunks that keep only findings that start in their own core, so memory and regex time stay
bounded on huge documents. Context words are looked up per finding, in a piece of text that
reaches back to enough keywords (`context_start`).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from operators.pii import cards

# phonenumbers 9.0 (phonenumberutil._VALID_PUNCTUATION and phonenumbermatcher's lead class).
PHONE_PUNCTUATION = "-x\u2010-\u2015\u2212\u30FC\uFF0D-\uFF0F \u00A0\u00AD\u200B\u2060\u3000()\uFF08\uFF09\uFF3B\uFF3D.\\[\\]/~\u2053\u223C\uFF5E"
PHONE_LEAD = "(\\[\uFF08\uFF3B+\uFF0B"
# Digits joined by at most four punctuation characters: phonenumbers' candidate pattern, whose
# optional lead ("+", "(") is added back by `phone_lead_start`. Possessive: no backtracking.
DIGIT_CLUSTER = re.compile(rf"\d++(?:[{PHONE_PUNCTUATION}]{{0,4}}+\d++)*+")
_LEAD_OR_PUNCT = re.compile(rf"[{PHONE_PUNCTUATION}{PHONE_LEAD}]")
_LEAD = re.compile(rf"[{PHONE_LEAD}]")

# Necessary conditions of presidio 2.2.366's patterns (see each recognizer's PATTERNS), searched
# in the whole text...
TEXT_TRIGGERS: dict[str, str] = {
    "EMAIL_ADDRESS": r"@",
    # every IPv6 form has "::" or two "hex:" groups in a row, so ":" then ":" or "hex:"
    "IP_ADDRESS": r":(?::|[0-9A-Fa-f]{1,4}:)",
    "IBAN_CODE": r"(?i)[A-Z]{2}[0-9]{2}[ -]?[A-Z0-9]{4}",
    "URL": r"(?i)[a-z0-9.\-][.][a-z]{2}",
}
# ...and inside digit clusters with enough digits (their separators are phone punctuation);
# the card trigger is the one definition of a card candidate in operators/pii/cards.py.
CLUSTER_TRIGGERS: dict[str, tuple[int, str]] = {
    "CREDIT_CARD": (cards.MIN_DIGITS, cards.TRIGGER),
    "US_SSN": (9, r"\d{3}(?:\d{2}-\d{4}|-\d{6}|[- .]\d{2}[- .]\d{4}|\d{6})"),
    "IP_ADDRESS": (4, r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}"),
}
# A phone cluster with at least this many digits opens a window without the cached check.
PHONE_DIRECT_DIGITS = 7


def digit_count(cluster: str) -> int:
    return len(cluster) if cluster.isdecimal() else sum(c.isdecimal() for c in cluster)


def phone_lead_start(text: str, start: int) -> int:
    """Where phonenumbers' candidate for the cluster at `start` may begin: up to two lead
    characters ("+", "(") each followed by up to four punctuation characters."""
    s = start
    floor = max(0, start - 10)
    while s > floor and _LEAD_OR_PUNCT.match(text, s - 1):
        s -= 1
    while s < start and not _LEAD.match(text, s):
        s += 1
    return s


@dataclass(frozen=True)
class Chunk:
    """A piece of a document to analyze: [start, end), keeping findings starting in [core_start, core_end)."""

    start: int
    end: int
    core_start: int
    core_end: int


_LETTERS = re.compile(r"[^\W\d_]+")


def _keywords(piece: str, stop_words: frozenset[str]) -> int:
    """Whitespace tokens whose letters (lower-cased) are not a stop word: a cheap stand-in for
    presidio's keywords (spaCy lemmas that are neither stop words nor punctuation)."""
    n = 0
    for tok in piece.split():
        word = "".join(_LETTERS.findall(tok)).lower()
        if word and word not in stop_words:
            n += 1
    return n


def context_start(text: str, a: int, stop_words: frozenset[str], keywords: int = 8, step: int = 64,
                  limit: int = 1024) -> tuple[int, int]:
    """A whitespace boundary before `a` with at least `keywords` non-stop-words between it and
    `a` (or the text's start, or about `limit` characters back), and how many it found:
    presidio's context enhancer walks back over stop words and punctuation to five keywords,
    and needs the same tokens. (Beyond `limit` we stop looking, presidio does not.)"""
    floor = max(0, a - limit)
    s, found = a, 0
    while s > floor and found < keywords:
        nxt = _left_boundary(text, max(floor, s - step), step)
        found += _keywords(text[nxt:s], stop_words)
        s = nxt
    return s, found


def has_letters(text: str, s: int, e: int) -> bool:
    """Whether text[s:e] holds a letter (context words are all letters; some are stop words)."""
    return _LETTERS.search(text, s, e) is not None


def _plain_keyword(token: str, stop_words: frozenset[str]) -> bool:
    word = token.strip(".,;:!?\"'()[]{}<>").lower()
    return any(c.isalnum() for c in word) and ":" not in word and word not in stop_words


def context_end(text: str, b: int, stop_words: frozenset[str], keywords: int = 2, limit: int = 256) -> int:
    """A whitespace boundary after a finding ending at `b` that takes in `keywords` plain
    keywords after the finding's own token (or `limit` characters): presidio's enhancer walks
    forward from the finding's token over what is not a keyword (punctuation, stop words,
    tokens split on ":") to the first keyword, which may be a word after the finding."""
    stop = min(len(text), b + limit)
    e = _right_boundary(text, b, limit)
    found = 0
    while e < stop and found < keywords:
        s = e
        while s < stop and text[s].isspace():
            s += 1
        e = _right_boundary(text, s, limit)
        if s == e:
            break
        found += _plain_keyword(text[s:e], stop_words)
    return e


def _left_boundary(text: str, s: int, reach: int) -> int:
    limit = max(0, s - reach)
    while s > limit and not text[s - 1].isspace():
        s -= 1
    return s


def _right_boundary(text: str, e: int, reach: int) -> int:
    limit = min(len(text), e + reach)
    while e < limit and not text[e].isspace():
        e += 1
    return e


def window(text: str, a: int, b: int, margin: int, reach: int) -> tuple[int, int]:
    """Expand [a, b) by `margin` characters each side, then out to whitespace (at most `reach` further)."""
    return _left_boundary(text, max(0, a - margin), reach), _right_boundary(text, min(len(text), b + margin), reach)


def uncut(text: str, win: tuple[int, int], clusters: list[tuple[int, int]], starts: list[int],
          reach: int) -> tuple[int, int]:
    """Widen a window until neither end is inside a cluster (clusters sorted, `starts` their
    starts) and both ends are on whitespace: a cut cluster is a different phone candidate."""
    s, e = win
    while True:
        i = bisect.bisect_right(starts, s) - 1
        if i >= 0 and clusters[i][0] < s < clusters[i][1]:
            s = _left_boundary(text, clusters[i][0], reach)
            continue
        j = bisect.bisect_left(starts, e) - 1
        if j >= 0 and clusters[j][0] < e < clusters[j][1]:
            e = _right_boundary(text, clusters[j][1], reach)
            continue
        return s, e


def merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Union of overlapping or touching intervals, sorted."""
    out: list[tuple[int, int]] = []
    for s, e in sorted(spans):
        if out and s <= out[-1][1]:
            if e > out[-1][1]:
                out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def chunks(text: str, s: int, e: int, max_chars: int, overlap: int) -> Iterator[Chunk]:
    """Split [s, e) into chunks of at most max_chars + 2*overlap characters whose cores tile it."""
    if e - s <= max_chars:
        yield Chunk(s, e, s, e)
        return
    core = s
    while core < e:
        core_end = min(e, core + max_chars)
        if core_end < e:  # prefer ending the core on whitespace
            back = core_end
            while back > core + max_chars // 2 and not text[back - 1].isspace():
                back -= 1
            if back > core + max_chars // 2:
                core_end = back
        yield Chunk(max(s, core - overlap), min(e, core_end + overlap), core, core_end)
        core = core_end


def compile_triggers(entities: list[str], custom: dict[str, str]) -> tuple[dict[str, Any], dict[str, tuple[int, Any]]]:
    """(text triggers, cluster triggers) for these entities. Custom patterns are their own
    trigger, compiled as presidio compiles them (IGNORECASE | DOTALL | MULTILINE)."""
    import regex

    text: dict[str, Any] = {e: re.compile(TEXT_TRIGGERS[e]) for e in entities if e in TEXT_TRIGGERS}
    cluster = {e: (CLUSTER_TRIGGERS[e][0], re.compile(CLUSTER_TRIGGERS[e][1])) for e in entities if e in CLUSTER_TRIGGERS}
    for entity, pattern in custom.items():
        text[entity] = regex.compile(pattern, regex.IGNORECASE | regex.DOTALL | regex.MULTILINE)
    return text, cluster
