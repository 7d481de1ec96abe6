"""CCNet's text normalization: the fast batch path equals a literal reading of CCNet's steps."""

from __future__ import annotations

import re
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from operators.lm.normalize import document_lines, normalize_line, normalize_lines

# CCNet's punctuation map (cc_net/text_normalizer.py), typed here from the source's characters,
# apart from the implementation's table, so that a wrong entry there fails these tests.
CCNET_PUNCT = dict(zip(
    "，。、„”“«»１」「《》´∶：？！（）；–—．～’…━〈〉【】％►",
    [",", ".", ",", '"', '"', '"', '"', '"', '"', '"', '"', '"', '"', "'", ":", ":", "?", "!", "(", ")", ";", "-",
     " - ", ". ", "~", "'", "...", "-", "<", ">", "[", "]", "%", "-"],
    strict=True))
# CCNet's non-printing characters: C0 controls and DEL..U+009F
CCNET_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def ccnet_steps(line: str) -> str:
    """CCNet's normalize() written out step by step (cc_net/text_normalizer.py)."""
    line = line.strip()
    if not line:
        return line
    line = line.lower()
    line = "".join(c for c in unicodedata.normalize("NFD", line) if unicodedata.category(c) != "Mn")
    line = re.sub(r"\d", "0", line)
    line = "".join(CCNET_PUNCT.get(c, c) for c in line)
    return CCNET_CONTROL.sub("", line)


def test_every_ccnet_punctuation_mark_by_hand():
    assert len(CCNET_PUNCT) == 34
    for char, ascii_form in CCNET_PUNCT.items():
        expected = "0" if char == "１" else ascii_form  # a digit first: CCNet replaces digits before punctuation
        assert normalize_line(f"a{char}b") == f"a{expected}b", char
    assert normalize_line("ｘ】【ｙ") == "ｘ][ｙ" and normalize_line("5％ ► go") == "0% - go"


def test_examples():
    assert normalize_line("  Héllo Wörld 2024! ") == "hello world 0000!"
    assert normalize_line("«Ça va?» — oui…") == '"ca va?"  -  oui...'
    assert normalize_line("١٢٣ and ๓ are digits") == "000 and 0 are digits"
    assert normalize_line("tab\tand\x07bell") == "tabandbell"
    assert normalize_line("Ｆｕｌｌ１") == "ｆｕｌｌ0"  # fullwidth one is a digit first (CCNet's order)
    assert normalize_line("   ") == ""


def test_batch_equals_line_by_line_on_mixed_text():
    lines = ["Plain ASCII 42.", "", "  ", "Ünïcödé “quotes” – dash", "x\x00y\x1fz\x7f", "ΣΟΦΙΑ", "日本語。テスト！",
             "\x85lead", "İstanbul ß ﬁ"]
    assert normalize_lines(lines) == [ccnet_steps(x) for x in lines]
    assert [normalize_line(x) for x in lines] == [ccnet_steps(x) for x in lines]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(blacklist_characters="\n", blacklist_categories=("Cs",))), max_size=8))
def test_batch_equals_ccnet_steps_fuzz(lines):
    assert normalize_lines(lines) == [ccnet_steps(x) for x in lines]


def test_document_lines_split_on_newline():
    lines, counts = document_lines(["a\nb", "", "c\n\nd\n"])
    assert lines == ["a", "b", "", "c", "", "d", ""]
    assert counts == [2, 1, 4]
