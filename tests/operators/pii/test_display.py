"""redact_for_display: the regex-only redactor the report uses on example documents."""

from __future__ import annotations

import subprocess
import sys

import pytest

from operators.pii.display import redact_for_display
from tests.conftest import ROOT


@pytest.mark.parametrize(
    ("text", "tag", "value"),
    [
        ("Mail john.doe@example.com today", "<EMAIL>", "john.doe@example.com"),
        ("почта иван@пример.рф здесь", "<EMAIL>", "иван@пример.рф"),
        ("call (212) 555-0199 now", "<PHONE_NUMBER>", "555-0199"),
        ("tel +44 20 7946 0958.", "<PHONE_NUMBER>", "7946 0958"),
        ("server 192.168.1.12 is up", "<IP_ADDRESS>", "192.168.1.12"),
        ("v6 2001:db8::8a2e:370:7334 here", "<IP_ADDRESS>", "2001:db8::8a2e:370:7334"),
        ("card 4111 1111 1111 1111 ok", "<CREDIT_CARD>", "4111 1111 1111 1111"),
        ("IBAN DE89 3704 0044 0532 0130 00 paid", "<IBAN_CODE>", "DE89 3704 0044 0532 0130 00"),
        ("ssn 536-22-1234 filed", "<US_SSN>", "536-22-1234"),
        ("see ftp://admin:hunter2@db.example.org/x", "<USERINFO>", "hunter2"),
    ],
)
def test_each_kind_is_replaced_by_its_tag(text: str, tag: str, value: str) -> None:
    out = redact_for_display(text)
    assert tag in out
    assert value not in out


def test_ordinary_numbers_stay() -> None:
    text = "In 1993, version 1.2.3 sold 1,234,567 units on 2020-11-27 at 12:30:45 for $3.50 (card 4111 1111 1111 1112)."
    assert redact_for_display(text) == text  # the card fails Luhn


def test_url_keeps_host_and_scheme() -> None:
    assert redact_for_display("https://bob:pw@x.example.com/a") == "https://<USERINFO>@x.example.com/a"


def test_empty_and_non_latin_text() -> None:
    assert redact_for_display("") == ""
    cjk = "这是一个没有个人信息的句子。"
    assert redact_for_display(cjk) == cjk


def test_does_not_import_presidio() -> None:
    code = "import sys, operators.pii.display as d; d.redact_for_display('a@b.com'); print('presidio_analyzer' in sys.modules, 'spacy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_names_beside_addresses_are_hidden():
    from operators.pii.display import redact_for_display

    assert redact_for_display("From: ap@pelliccio.example (Anthony S. Pelliccio)\nSubject: x") == \
        "From: <EMAIL> (<PERSON>)\nSubject: x"
    assert redact_for_display('Reply-To: "Jane Doe" <jane@example.org>') == "Reply-To: <PERSON> <EMAIL>"
    assert redact_for_display("From: Jane Doe <jane@example.org>") == "From: <PERSON> <EMAIL>"
    assert redact_for_display("Email: jane@example.org") == "Email: <EMAIL>"
