"""Hypothesis fuzzing of the text mappers: arbitrary Unicode never raises, rows are kept, and
the vectorized Arrow versions equal plain-Python restatements of their definitions."""

from __future__ import annotations

import re

import ftfy
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from operators.lm.normalize import UNICODE_PUNCT
from operators.text.copyright import RemoveCopyright
from operators.text.emails import EMAIL_PATTERN, RemoveEmails
from operators.text.links import RemoveLinks
from operators.text.normalize import NormalizeText
from operators.text.punctuation import NOT_PUNCTUATION, NormalizePunctuation
from operators.text.unicode_fix import FixUnicode

DJ_WHITESPACE = set("\t \u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u00a0\u202f\u205f\u3000"
                    "\u200b\u200c\u200d\u2060\ufffc\u0084")

pieces = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["\n", "\r\n", "/*", "*/", "copyright", "// c", "# h", "-- s", "http://", "https://x.org/a(b)",
                     "www.", "a.com/", "@", "me@x.org", ".", ",", "&amp;", "Ã©", "â€™", "\u200b", "\u2003"]
                    + list(UNICODE_PUNCT)),
    st.text(alphabet=st.characters(codec="utf-8", categories=["Zs", "Cc", "Cf", "Po", "Pd", "Ps", "Pe"]), max_size=10),
)
documents = st.lists(pieces, max_size=10).map("".join)
FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def run(op, texts: list[str]) -> list[str]:
    out = op.apply(pa.table({"text": pa.array(texts, pa.string())}))
    assert out.reasons is None and out.table.num_rows == len(texts)
    return out.table.column("text").to_pylist()


def py_punctuation(text: str) -> str:
    return "".join(c if c in NOT_PUNCTUATION else UNICODE_PUNCT.get(c, c) for c in text)


def py_dj_whitespace(text: str) -> str:
    return "".join(" " if c in DJ_WHITESPACE else c for c in text.strip())


def py_copyright(text: str) -> str:
    """The RedPajama / Data-Juicer rule restated with Python's re."""
    block = re.search(r"/\*[^*]*\*+(?:[^/*][^*]*\*+)*/", text)
    if block:
        return text[:block.start()] + text[block.end():] if "copyright" in block.group().lower() else text
    lines = text.split("\n")
    skip = 0
    while skip < len(lines) and (lines[skip].startswith(("//", "#", "--")) or not lines[skip]):
        skip += 1
    return "\n".join(lines[skip:])


@FUZZ
@given(st.lists(documents, min_size=1, max_size=6))
def test_punctuation_equals_python_table(texts):
    assert run(NormalizePunctuation(), texts) == [py_punctuation(t) for t in texts]


@FUZZ
@given(st.lists(documents, min_size=1, max_size=6))
def test_dj_whitespace_equals_python(texts):
    op = NormalizeText(form=None, collapse_whitespace=False, unicode_spaces=True, trim=True)
    # Arrow's trim and str.strip agree on whitespace except U+001C-U+001F, which Python counts
    texts = [t.replace("\x1c", "").replace("\x1d", "").replace("\x1e", "").replace("\x1f", "") for t in texts]
    assert run(op, texts) == [py_dj_whitespace(t) for t in texts]


@FUZZ
@given(st.lists(documents, min_size=1, max_size=6))
def test_copyright_equals_python_rule(texts):
    assert run(RemoveCopyright(), texts) == [py_copyright(t) for t in texts]


@FUZZ
@given(st.lists(documents, min_size=1, max_size=6))
def test_emails_equal_python_re(texts):
    assert run(RemoveEmails(), texts) == [re.sub(EMAIL_PATTERN, "", t) for t in texts]


@FUZZ
@given(st.lists(documents, min_size=1, max_size=6))
def test_fix_unicode_equals_ftfy_on_every_row(texts):
    # rows the prefilter skips must be ones ftfy leaves unchanged
    assert run(FixUnicode(), texts) == [ftfy.fix_text(t) for t in texts]


@FUZZ
@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80))
def test_fix_unicode_leaves_printable_ascii_without_ampersand(text):
    text = text.replace("&", "")
    assert ftfy.fix_text(text) == text


@FUZZ
@given(st.lists(documents, min_size=1, max_size=6))
def test_links_counted_and_removed(texts):
    texts = [t.replace("\x00", "") for t in texts]  # the marker below: a NUL inside a link would be taken with it
    op = RemoveLinks(replacement="\x00")
    out = op.apply(pa.table({"text": pa.array(texts, pa.string())})).table
    marked = out.column("text").to_pylist()
    assert [m.count("\x00") - t.count("\x00") for m, t in zip(marked, texts)] == out.column("link_count").to_pylist()
    for plain, m, t in zip(run(RemoveLinks(), texts), marked, texts):
        if "\x00" not in t:
            assert plain == m.replace("\x00", "")
