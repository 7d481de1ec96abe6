"""Turning findings into replaced text: overlap resolution and the replacement policies."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import Literal, Protocol

Policy = Literal["tag", "fake", "hash", "remove"]

# Short tags where presidio's entity name is long; everything else is tagged with its own name.
TAGS = {"EMAIL_ADDRESS": "EMAIL"}

# Fixed fake values: reserved or documented test values, so a fake never names anyone.
FAKES = {
    "EMAIL_ADDRESS": "user@example.com",  # RFC 2606 reserved domain
    "PHONE_NUMBER": "+1-202-555-0100",  # NANP 555-0100..0199: fictional numbers
    "IP_ADDRESS": "192.0.2.1",  # RFC 5737 TEST-NET-1
    "CREDIT_CARD": "4111 1111 1111 1111",  # Visa's published test number
    "IBAN_CODE": "GB33BUKB20201555555555",  # the UK payments test IBAN
    "US_SSN": "123-45-6789",  # SSA: never issued (advertising)
    "URL": "https://example.com/",  # RFC 2606
    "PERSON": "Jane Doe",
    "LOCATION": "Springfield",
    "ORGANIZATION": "Example Corp",
    "NRP": "Example",
    "DATE_TIME": "January 1, 2000",
}

# When findings of different types overlap, the region takes the best one's type: a pattern
# finding before an NER one (spaCy calls phone numbers dates and cards cardinals), then the
# higher score, then this order (validated identifiers before looser patterns).
PRIORITY = ("CREDIT_CARD", "IBAN_CODE", "EMAIL_ADDRESS", "US_SSN", "IP_ADDRESS", "PHONE_NUMBER", "URL")
NER_TYPES = frozenset({"PERSON", "LOCATION", "ORGANIZATION", "NRP", "DATE_TIME"})


class Span(Protocol):
    start: int
    end: int
    entity: str
    score: float


def tag(entity: str) -> str:
    return TAGS.get(entity, entity)


def _rank(f: Span) -> tuple[bool, float, int, int]:
    prio = PRIORITY.index(f.entity) if f.entity in PRIORITY else len(PRIORITY)
    return (f.entity not in NER_TYPES, f.score, -prio, f.end - f.start)


def resolve(findings: Sequence[Span]) -> list[tuple[int, int, str]]:
    """Merge overlapping findings into disjoint regions [start, end) labelled with the best
    finding's entity. The region is the union, so no part of any finding stays in the text."""
    out: list[tuple[int, int, str]] = []
    group: list[Span] = []
    end = -1
    for f in sorted(findings, key=lambda f: (f.start, f.end)):
        if group and f.start >= end:
            out.append((group[0].start, end, max(group, key=_rank).entity))
            group = []
        if not group:
            end = f.end
        group.append(f)
        end = max(end, f.end)
    if group:
        out.append((min(f.start for f in group), end, max(group, key=_rank).entity))
    return out


def canonical_phone(value: str, regions: Sequence[str]) -> str:
    """E.164 form for the first region where the number is valid ("(212) 555-0199" and
    "+1 212 555 0199" are both +12125550199); else its digits."""
    import phonenumbers

    for region in regions or ("US",):
        try:
            num = phonenumbers.parse(value, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(num):
            return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
    return "".join(c for c in value if c.isdecimal() or c == "+")


def canonical(entity: str, value: str, phone_regions: Sequence[str] = ()) -> str:
    """The form hashed for `hash`: the same identifier written differently hashes the same."""
    if entity == "PHONE_NUMBER":
        return canonical_phone(value, phone_regions)
    if entity in ("CREDIT_CARD", "US_SSN"):
        return "".join(c for c in value if c.isdecimal() or c == "+")
    if entity == "IBAN_CODE":
        return "".join(c for c in value if c.isalnum()).upper()
    if entity in ("EMAIL_ADDRESS", "URL", "IP_ADDRESS"):
        return value.strip().casefold()
    return " ".join(value.split())


class Replacer:
    """Applies one replacement policy.

    tag:    `<EMAIL>`; fake: a fixed fake value per type (`fake_values` override `FAKES`, unknown
    types fall back to the tag); hash: `<EMAIL_1f2e...>`, an HMAC-SHA256 of the canonical value
    keyed by the recipe's salt, so the same value gets the same token in every shard and
    process; remove: nothing.
    """

    def __init__(self, policy: Policy, salt: str | None = None, hash_chars: int = 16,
                 fake_values: dict[str, str] | None = None, phone_regions: Sequence[str] = ()):
        if policy == "hash" and not salt:
            raise ValueError("the hash policy needs a salt")
        self.policy = policy
        self._key = (salt or "").encode("utf-8")
        self._hash_chars = hash_chars
        self._fakes = {**FAKES, **(fake_values or {})}
        self._phone_regions = tuple(phone_regions)

    def token(self, entity: str, value: str) -> str:
        if self.policy == "tag":
            return f"<{tag(entity)}>"
        if self.policy == "remove":
            return ""
        if self.policy == "fake":
            return self._fakes.get(entity, f"<{tag(entity)}>")
        msg = f"{entity}\x1f{canonical(entity, value, self._phone_regions)}".encode()
        digest = hmac.new(self._key, msg, hashlib.sha256).hexdigest()[: self._hash_chars]
        return f"<{tag(entity)}_{digest}>"

    def apply(self, text: str, regions: list[tuple[int, int, str]]) -> str:
        """Replace disjoint sorted regions (from `resolve`)."""
        if not regions:
            return text
        parts, pos = [], 0
        for start, end, entity in regions:
            parts.append(text[pos:start])
            parts.append(self.token(entity, text[start:end]))
            pos = end
        parts.append(text[pos:])
        return "".join(parts)
