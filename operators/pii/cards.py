"""Payment card numbers: the IIN ranges and lengths of the major networks, and the one
definition of a card candidate that the recognizer and the prefilter's trigger both use.

IIN ranges and lengths per network (ISO/IEC 7812 issuer identification numbers as published
by the networks; summarized in Wikipedia's "Payment card number" table, 2024):

| network | IIN ranges | lengths |
|---|---|---|
| Visa (incl. Electron) | 4 | 13, 16, 19 |
| Mastercard | 51-55, 2221-2720 | 16 |
| American Express | 34, 37 | 15 |
| Discover | 6011, 644-649, 65, 622126-622925 | 16-19 |
| JCB | 3528-3589 (16-19); 2131, 1800 (15) | 15-19 |
| Diners Club International | 300-305, 3095, 36, 38-39 | 14-19 |
| Maestro | 5018, 5020, 5038, 5893, 6304, 6759, 6761-6763 | 12-19 |
| UnionPay | 62 | 16-19 |
| Mir | 2200-2204 | 16-19 |

A number is a card when its digits fall in one of these ranges with one of its lengths and pass
the Luhn checksum. Written forms: the digits alone, or groups of 3 to 6 digits joined by one
space or dash (4-4-4-4, 4-6-5, 4-6-4, 4-4-4-4-3...).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

# (low, high) IIN prefixes of equal length, and the card lengths they allow
NETWORKS: dict[str, tuple[tuple[tuple[str, str], ...], tuple[int, ...]]] = {
    "visa": ((("4", "4"),), (13, 16, 19)),
    "mastercard": ((("51", "55"), ("2221", "2720")), (16,)),
    "amex": ((("34", "34"), ("37", "37")), (15,)),
    "discover": ((("6011", "6011"), ("644", "649"), ("65", "65"), ("622126", "622925")), (16, 17, 18, 19)),
    "jcb": ((("3528", "3589"),), (16, 17, 18, 19)),
    "jcb15": ((("2131", "2131"), ("1800", "1800")), (15,)),
    "diners": ((("300", "305"), ("3095", "3095"), ("36", "36"), ("38", "39")), (14, 15, 16, 17, 18, 19)),
    "maestro": ((("5018", "5018"), ("5020", "5020"), ("5038", "5038"), ("5893", "5893"), ("6304", "6304"),
                 ("6759", "6759"), ("6761", "6763")), tuple(range(12, 20))),
    "unionpay": ((("62", "62"),), (16, 17, 18, 19)),
    "mir": ((("2200", "2204"),), (16, 17, 18, 19)),
}
MIN_DIGITS = min(n for _, lengths in NETWORKS.values() for n in lengths)
MAX_DIGITS = max(n for _, lengths in NETWORKS.values() for n in lengths)
GROUP_MIN, GROUP_MAX = 3, 6

# The trigger: MIN_DIGITS or more digits, each joined to the next by at most one space or dash.
# Every card candidate matches it, so the prefilter may search it alone.
TRIGGER = rf"\d(?:[- ]?+\d){{{MIN_DIGITS - 1},}}+"
# Digit groups joined by single separators: the runs card candidates are cut from.
_RUN = re.compile(r"(?<!\w)\d+(?:[- ]\d+)*(?!\w)")
_GROUP = re.compile(r"\d+")


def network(digits: str) -> str | None:
    """The network whose IIN range and length `digits` fits, or None."""
    n = len(digits)
    for name, (ranges, lengths) in NETWORKS.items():
        if n in lengths and any(lo <= digits[:len(lo)] <= hi for lo, hi in ranges):
            return name
    return None


def luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def is_card(digits: str) -> bool:
    return MIN_DIGITS <= len(digits) <= MAX_DIGITS and luhn(digits) and network(digits) is not None


def _candidates(groups: list[tuple[int, int]], text: str) -> Iterator[tuple[int, int]]:
    """Left to right, the longest valid card starting at each group (groups it spans are used up)."""
    i = 0
    while i < len(groups):
        best = None
        digits = ""
        for j in range(i, len(groups)):
            size = groups[j][1] - groups[j][0]
            joined = j > i
            if joined and not (GROUP_MIN <= size <= GROUP_MAX):
                break
            if j == i + 1 and not (GROUP_MIN <= groups[i][1] - groups[i][0] <= GROUP_MAX):
                break
            digits += text[groups[j][0]:groups[j][1]]
            if len(digits) > MAX_DIGITS:
                break
            if is_card(digits):
                best = j
        if best is None:
            i += 1
            continue
        yield groups[i][0], groups[best][1]
        i = best + 1


def card_spans(text: str) -> list[tuple[int, int]]:
    """Card numbers in `text` as (start, end): a whole run of digits alone, or whole groups of a
    run of separated groups (3-6 digits each), in a network's IIN range and length, Luhn-valid."""
    out: list[tuple[int, int]] = []
    for run in _RUN.finditer(text):
        a, b = run.span()
        if b - a < MIN_DIGITS:
            continue
        groups = [(a + g.start(), a + g.end()) for g in _GROUP.finditer(run.group())]
        out += _candidates(groups, text)
    return out
