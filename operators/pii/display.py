"""Regex-only redaction for showing documents to people (reports, examples, logs).

`redact_for_display` hides e-mails, phone numbers, IP addresses, credit cards, IBANs, US SSNs
and the user:password part of URLs, replacing each with its tag (`<EMAIL>`). It imports nothing
heavy (no presidio, no spaCy), so the report can scrub the example documents it shows whatever
the recipe did. It leans towards hiding too much: a false positive only hides a number from a
reader, a false negative shows someone's data.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

from operators.pii.cards import luhn

# scheme://user[:password]@host: the userinfo goes, the scheme and host stay readable.
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]{1,15}://)([^\s/@<>\"']+)@")
# \w is Unicode-aware, so internationalized addresses (иван@пример.рф) are hidden too.
_EMAIL = re.compile(r"(?<![\w.%+-])[\w.%+-]+@(?:[^\W_](?:[\w-]*[^\W_])?\.)+[^\W\d_]{2,24}\b")
# IBAN: country code, two check digits, 11 to 30 alphanumerics, optionally in groups of four.
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ -]?[A-Z0-9]{4}){2,7}(?:[ -]?[A-Z0-9]{1,3})?\b")
# 13 to 19 digits, optionally grouped by spaces or dashes (every card brand's length range).
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
_SSN = re.compile(r"(?<![\d-])(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\d-])")
_IPV6_CANDIDATE = re.compile(r"(?i)(?<![\w:.])(?:[0-9a-f]{0,4}:){2,7}(?:[0-9a-f]{0,4}|\d{1,3}(?:\.\d{1,3}){3})(?![\w:])")
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = re.compile(rf"(?<![\d.]){_OCTET}(?:\.{_OCTET}){{3}}(?![\d]|\.\d)")
# Phones: an international +CC number, or a national number of 7+ digits with separators
# ((212) 555-0199, 212-555-0199, 020 7946 0958, 06.12.34.56.78). Dates (2020-11-27) and
# version strings have too few digits per group to match.
_PHONE = re.compile(
    r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}(?!\d)"
    r"|(?<![\w(])\(\d{2,5}\)[ .-]?\d{2,4}(?:[ .-]?\d{2,4}){1,3}(?!\d)"
    r"|(?<![\w.-])\d{2,5}(?:[ .-]\d{2,4}){2,4}(?![\w]|[.-]\d)"
)


# Names written next to an address, as mail headers and signatures do: `<EMAIL> (Jane Doe)`,
# `"Jane Doe" <EMAIL>`, `Jane Doe <EMAIL>`; the name is a person's as surely as the address.
_NAME_AFTER_EMAIL = re.compile(r"<EMAIL>(\s*)\([^()\n]{1,80}\)")
_NAME_BEFORE_EMAIL = re.compile(
    r"(?:\"[^\"\n]{1,80}\"|\b[A-Z][\w.'-]*(?:[ \t]+[A-Z][\w.'-]*){0,3})([ \t]*)<?<EMAIL>>?")


def _iban_ok(compact: str) -> bool:
    if not 15 <= len(compact) <= 34:
        return False
    moved = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in moved)) % 97 == 1


def _is_ipv6(candidate: str) -> bool:
    if candidate.count(":") < 2 or not any(c not in ":" for c in candidate):
        return False
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return False
    return True


_DATE_LIKE = re.compile(r"\d{4}([-./ ])\d{1,2}\1\d{1,2}|\d{1,2}([-./ ])\d{1,2}\2\d{4}")


def _phone_ok(match: str) -> bool:
    digits = sum(c.isdigit() for c in match)
    # E.164 allows at most 15 digits; 7 is the shortest subscriber number worth hiding.
    return 7 <= digits <= 15 and not _DATE_LIKE.fullmatch(match)


def _sub(pattern: re.Pattern[str], tag: str, text: str, valid: Callable[[str], bool] | None = None) -> str:
    if valid is None:
        return pattern.sub(tag, text)
    return pattern.sub(lambda m: tag if valid(m.group(0)) else m.group(0), text)


def redact_for_display(text: str) -> str:
    """Replace e-mails, phones, IPs, credit cards (Luhn), IBANs (mod 97), US SSNs and URL
    userinfo with `<EMAIL>`, `<PHONE_NUMBER>`, `<IP_ADDRESS>`, `<CREDIT_CARD>`, `<IBAN_CODE>`,
    `<US_SSN>`, `<USERINFO>`, and names written beside an e-mail address with `<PERSON>`. Regex only; safe on any string (None-free), linear-time patterns."""
    if not text:
        return text
    text = _URL_USERINFO.sub(lambda m: m.group(1) + "<USERINFO>@", text)
    text = _sub(_EMAIL, "<EMAIL>", text)
    text = _NAME_AFTER_EMAIL.sub(lambda m: f"<EMAIL>{m.group(1)}(<PERSON>)", text)
    text = _NAME_BEFORE_EMAIL.sub(lambda m: f"<PERSON>{m.group(1)}<EMAIL>", text)
    text = _sub(_IBAN, "<IBAN_CODE>", text, lambda s: _iban_ok(re.sub(r"[ -]", "", s)))
    text = _sub(_CARD, "<CREDIT_CARD>", text, lambda s: luhn(re.sub(r"[ -]", "", s)))
    text = _sub(_SSN, "<US_SSN>", text)
    text = _sub(_IPV6_CANDIDATE, "<IP_ADDRESS>", text, _is_ipv6)
    text = _sub(_IPV4, "<IP_ADDRESS>", text)
    text = _sub(_PHONE, "<PHONE_NUMBER>", text, _phone_ok)
    return text
