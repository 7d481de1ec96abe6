"""The shared splitter: hand-computed pieces on crafted documents, and agreement with a plain
Python reference implementation on generated text."""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import pyarrow as pa
from hypothesis import example, given, settings
from hypothesis import strategies as st

from operators.text import splitting as S


def arr(*texts: str | None) -> pa.Array:
    return S.text_array(pa.array(list(texts), pa.string()))


# ---- hand-computed ---------------------------------------------------------------------------


def test_lines_follow_splitlines_and_drop_blank_lines():
    text = "  first line  \r\nsecond\rthird\x0bfourth\u2028fifth\u2029sixth\x85seventh\n\n \t \nlast"
    assert S.split_lines(arr(text)).to_pylist() == [
        ["first line", "second", "third", "fourth", "fifth", "sixth", "seventh", "last"]]


def test_edge_documents():
    texts = arr("", None, "word", "... !!! ?", "   \n\t\n  ")
    assert S.split_lines(texts).to_pylist() == [[], [], ["word"], ["... !!! ?"], []]
    assert S.split_words(texts).to_pylist() == [[], [], ["word"], [], []]
    assert S.split_tokens(texts).to_pylist() == [[], [], ["word"], ["...", "!!!", "?"], []]
    assert S.split_paragraphs(texts).to_pylist() == [[], [], ["word"], ["... !!! ?"], []]
    assert S.split_sentences(texts).to_pylist() == [[], [], ["word"], ["...", "!!!", "?"], []]
    assert S.split_words(texts).counts().tolist() == [0, 0, 1, 0, 0]


def test_words_strip_punctuation_and_split_cjk():
    text = '"Hello," she said -- (quietly). Don\'t stop… 我爱北京。カタカナ and ひらがな! 한국어 단어 $100 #tag'
    assert S.split_words(arr(text)).to_pylist()[0] == [
        "Hello", "she", "said", "quietly", "Don't", "stop",
        "我", "爱", "北", "京", "カ", "タ", "カ", "ナ", "and", "ひ", "ら", "が", "な",
        "한국어", "단어", "$100", "tag",
    ]
    # mixed scripts inside one token: the CJK characters become their own words
    assert S.split_words(arr("abc中文def")).to_pylist() == [["abc", "中", "文", "def"]]
    assert S.split_words(arr("a b"), strip_punctuation=False, split_cjk=False).to_pylist() == [["a", "b"]]


def test_paragraphs_are_runs_of_non_blank_lines():
    text = "p1 line1\np1 line2\n\n  \t\np2\n\n\n\np3 a\r\np3 b  \n"
    assert S.split_paragraphs(arr(text)).to_pylist() == [["p1 line1\np1 line2", "p2", "p3 a\np3 b"]]


def test_sentences():
    text = 'Mr. Smith went home. Did he? Yes!! "Quoted." (Aside.) Last one\nNew line no stop\n我来了。你好！再见'
    assert S.split_sentences(arr(text)).to_pylist() == [[
        "Mr.", "Smith went home.", "Did he?", "Yes!!", '"Quoted."', "(Aside.)", "Last one",
        "New line no stop", "我来了。", "你好！", "再见",
    ]]
    assert S.count_sentences(arr("One. Two. Three.", "", "No end")).tolist() == [3, 0, 1]


def test_very_long_line():
    word = "x" * 5000
    text = " ".join([word] * 200)  # one line of ~1 MB
    pieces = S.split_words(arr(text, "short"))
    assert pieces.counts().tolist() == [200, 1]
    assert pieces.lengths()[:3].tolist() == [5000, 5000, 5000]
    assert S.split_lines(arr(text)).lengths().tolist() == [len(text)]


def test_pieces_aggregates():
    pieces = S.split_words(arr("aa b", "", "ccc dd e"))
    assert pieces.counts().tolist() == [2, 0, 3]
    assert pieces.parents().tolist() == [0, 0, 2, 2, 2]
    assert pieces.sum(pieces.lengths()).tolist() == [3, 0, 6]
    assert pieces.max(pieces.lengths()).tolist() == [2, 0, 3]
    assert pieces.any(pieces.lengths() == 1).tolist() == [True, False, True]
    kept = pieces.filter(pieces.lengths() > 1)
    assert kept.to_pylist() == [["aa"], [], ["ccc", "dd"]]
    assert kept.join(" ").to_pylist() == ["aa", "", "ccc dd"]


def test_codepoints_handle_slices_and_astral_characters():
    texts = pa.array(["skip", "a😀b", "", "é中"]).slice(1)
    cps, offsets = S.codepoints(texts)
    assert cps.tolist() == [ord(c) for c in "a😀bé中"]
    assert offsets.tolist() == [0, 3, 3, 5]


def test_character_classes():
    letters = S.char_class("L")
    assert letters[ord("a")] and letters[ord("中")] and not letters[ord("1")] and not letters[ord("!")]
    assert S.char_class("P")[ord("…")] and not S.char_class("P")[ord("$")]
    assert S.whitespace_table()[ord("\u3000")] and S.whitespace_table()[ord("\t")]
    assert "!" in S.punctuation_chars() and "a" not in S.punctuation_chars()


# ---- agreement with a plain-Python reference -------------------------------------------------

_CJK = set("我爱北京あいカタ")
_ALPHABET = list("ab cdeXY'.,!?…;-\"()[]{}#$1") + ["\n", "\r", "\r\n", "\t", "\u2028", "\u00a0", "\u3000", "。", "！"] \
    + sorted(_CJK) + ["é", "😀", "\x00", "  "]
_PUNCT = set(S.punctuation_chars())


def ref_lines(text: str) -> list[str]:
    return [ln.strip() for ln in text.splitlines() if ln.strip()]


def ref_paragraphs(text: str) -> list[str]:
    paragraphs, current = [], []
    for line in text.splitlines():
        if line.strip():
            current.append(line)
        elif current:
            paragraphs.append("\n".join(current).strip())
            current = []
    if current:
        paragraphs.append("\n".join(current).strip())
    return paragraphs


def ref_words(text: str) -> list[str]:
    spaced = "".join(f" {c} " if c in _CJK else c for c in text)
    words = [w.strip("".join(_PUNCT)) for w in spaced.split()]
    return [w for w in words if w]


_END = r"[.!?\u2026\u203C\u2047\u2048\u2049\uFF0E\uFF01\uFF1F]+[\"'\u201D\u2019\u00BB\u300D\u300F)\]]*"


def ref_sentences(text: str) -> list[str]:
    out = []
    for line in ref_lines(text):
        # one pass, leftmost first: a terminal run (+ closers) before whitespace, else a full-width
        # 。！？ run (+ its closers) with no whitespace needed
        marked = re.sub(f"({_END})[\\s\u3000]+|([\u3002\uFF01\uFF1F]+[\u300D\u300F\uFF09]*)",
                        lambda m: (m.group(1) or m.group(2)) + "\n", line)
        out += [s.strip() for s in marked.split("\n") if s.strip()]
    return out


@settings(max_examples=200, deadline=None)
@example(texts=["！'\ta"])  # a closing quote after a full-width end, then whitespace: one cut
@given(st.lists(st.lists(st.sampled_from(_ALPHABET), max_size=40).map("".join), min_size=1, max_size=6))
def test_vectorized_splitter_equals_reference(texts):
    batch = arr(*texts)
    assert S.split_lines(batch).to_pylist() == [ref_lines(t) for t in texts]
    assert S.split_paragraphs(batch).to_pylist() == [ref_paragraphs(t) for t in texts]
    assert S.split_words(batch).to_pylist() == [ref_words(t) for t in texts]
    assert S.split_tokens(batch).to_pylist() == [t.split() for t in texts]
    assert S.split_sentences(batch).to_pylist() == [ref_sentences(t) for t in texts]
    cps, offsets = S.codepoints(batch)
    assert cps.tolist() == [ord(c) for c in "".join(texts)]
    assert np.diff(offsets).tolist() == [len(t) for t in texts]


def test_category_table_equals_unicodedata_for_every_code_point():
    # the table asks unicodedata only about some planes; the others follow Unicode's stability policy
    expected = [S.CATEGORIES.index(unicodedata.category(chr(c))) for c in range(0x110000)]
    assert S.category_table().tolist() == expected


def test_punctuation_set_is_unicode_category_p():
    chars = S.punctuation_chars()
    assert all(unicodedata.category(c).startswith("P") for c in chars)
    assert len(chars) == sum(unicodedata.category(chr(c)).startswith("P") for c in range(0x110000))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.sampled_from(_ALPHABET), max_size=30).map("".join), min_size=1, max_size=6))
def test_count_tokens_equals_str_split(texts):
    assert S.count_tokens(arr(*texts)).tolist() == [len(t.split()) for t in texts]


def test_tokens_ignore_bytes_after_the_last_value():
    # Arrow 26's utf8_split_whitespace reads past a value that ends in multi-byte whitespace;
    # garbage after the last value used to glue U+2028 to the last token (found by the test above)
    for text in ["ab\u2028", "x\u00a0", "y \u3000"]:
        data = text.encode()
        for tail in (b"", b"\x80\x80\x80", b"\xff\xfe"):
            offsets = pa.py_buffer(np.array([0, len(data)], dtype=np.int32).tobytes())
            raw = pa.Array.from_buffers(pa.string(), 1, [None, offsets, pa.py_buffer(data + tail)])
            assert S.split_tokens(raw).to_pylist() == [text.split()]
            assert S.split_words(raw).to_pylist() == [text.split()]
            assert S.count_tokens(raw).tolist() == [len(text.split())]
