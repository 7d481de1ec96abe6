"""Card numbers of every major network (issue 16 item 2): IIN ranges and lengths with Luhn, in
the recognizer and in the prefilter's trigger (one definition), through the operator."""

from __future__ import annotations

import random

import pytest

from operators.pii import cards, prefilter
from operators.pii.scrubber import PIIScrubber


def _luhn_complete(body: str) -> str:
    """`body` plus the check digit that makes it Luhn-valid (written independently of cards.luhn)."""
    digits = [int(c) for c in body + "0"]
    odd = sum(digits[-1::-2])
    even = sum(sum(divmod(2 * d, 10)) for d in digits[-2::-2])
    return body + str((10 - (odd + even) % 10) % 10)


def _number(prefix: str, length: int, seed: int) -> str:
    rng = random.Random(f"{prefix}-{length}-{seed}")
    return _luhn_complete(prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix) - 1)))


# (network, IIN prefix, length): each range's ends and each length
CASES = [("visa", "4", n) for n in (13, 16, 19)] + [
    ("mastercard", p, 16) for p in ("51", "55", "2221", "2500", "2720")] + [
    ("amex", p, 15) for p in ("34", "37")] + [
    ("discover", p, n) for p in ("6011", "644", "649", "65", "622126", "622925") for n in (16, 19)] + [
    ("jcb", p, n) for p in ("3528", "3589") for n in (16, 19)] + [
    ("jcb15", p, 15) for p in ("2131", "1800")] + [
    ("diners", p, n) for p in ("300", "305", "3095", "36", "38", "39") for n in (14, 16, 19)] + [
    ("maestro", p, n) for p in ("5018", "5020", "5038", "5893", "6304", "6759", "6761", "6763") for n in (12, 19)] + [
    ("unionpay", "62", n) for n in (16, 17, 18, 19)] + [("mir", "2200", 16), ("mir", "2204", 19)]
# published test numbers
PUBLISHED = ["4111111111111111", "5555555555554444", "2223003122003222", "378282246310005", "30569309025904",
             "6011111111111117", "3530111333300000", "6200000000000005", "6759649826438453"]


@pytest.mark.parametrize(("name", "prefix", "length"), CASES)
def test_every_network_range_and_length(name: str, prefix: str, length: int) -> None:
    number = _number(prefix, length, 0)
    assert cards.network(number) is not None and cards.luhn(number)
    assert cards.card_spans(f"card {number} ok") == [(5, 5 + length)]
    bad = number[:-1] + str((int(number[-1]) + 1) % 10)  # Luhn fails
    assert cards.card_spans(f"card {bad} ok") == []


def test_outside_the_ranges_and_lengths_is_no_card() -> None:
    for prefix, length in [("1", 16), ("2220", 16), ("2721", 16), ("3", 16), ("7", 16), ("8", 16), ("9", 16),
                           ("4", 14), ("4", 15), ("4", 17), ("51", 15), ("34", 16), ("2131", 16), ("5019", 12),
                           ("6", 20), ("4", 12)]:
        number = _number(prefix, length, 1)
        assert cards.card_spans(f"n {number} n") == [], (prefix, length)


def test_written_forms() -> None:
    amex, visa19 = _number("37", 15, 2), _number("4", 19, 2)
    forms = {
        "4111 1111 1111 1111": (0, 19), "4111-1111-1111-1111": (0, 19),
        f"{amex[:4]} {amex[4:10]} {amex[10:]}": (0, 17),
        " ".join([visa19[:4], visa19[4:8], visa19[8:12], visa19[12:16], visa19[16:]]): (0, 23),
    }
    for text, span in forms.items():
        assert cards.card_spans(text) == [span], text
    # a card among other digit groups: only its own groups
    assert cards.card_spans("ref 1234 4111 1111 1111 1111 paid") == [(9, 28)]
    assert cards.card_spans("4111 1111 1111 1111 2020") == [(0, 19)]
    # single digits joined by spaces are no card form (tables, lists)
    assert cards.card_spans("4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1") == []


def test_trigger_is_a_necessary_condition() -> None:
    import re

    trigger = re.compile(cards.TRIGGER)
    rng = random.Random(5)
    for _ in range(300):
        name, prefix, length = rng.choice(CASES)
        number = _number(prefix, length, rng.randrange(10**6))
        sep = rng.choice(["", " ", "-"])
        text = sep.join(number[i:i + 4] for i in range(0, length, 4)) if sep else number
        if len(text.split(sep)[-1] if sep else text) < cards.GROUP_MIN:
            continue
        for a, _ in cards.card_spans(f"x {text} y"):
            assert any(m.start() <= a - 2 < m.end() for m in trigger.finditer(text)), text
    assert prefilter.CLUSTER_TRIGGERS["CREDIT_CARD"] == (cards.MIN_DIGITS, cards.TRIGGER)


@pytest.fixture(scope="module")
def scrubber() -> PIIScrubber:
    op = PIIScrubber()
    op.ensure_setup()
    return op


def test_operator_scrubs_every_network(scrubber: PIIScrubber) -> None:
    numbers = [_number(p, n, 3) for _, p, n in CASES] + PUBLISHED
    texts = [f"Paid with card {n} on Monday." for n in numbers]
    out = scrubber.run([{"id": str(i), "text": t} for i, t in enumerate(texts)])[0]
    assert out.column("text").to_pylist() == ["Paid with card <CREDIT_CARD> on Monday."] * len(texts)
    # the fast path equals the recognizer on the whole text
    an = scrubber._analyzer
    for t in texts:
        assert an.analyze(t) == an.analyze_whole(t)
