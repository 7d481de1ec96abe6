"""Text statistics filters: hand-computed values on crafted documents."""

from __future__ import annotations

import math
from collections import Counter

import pyarrow as pa
import pytest

from operators.quality.text_stats import (
    AlphanumericFilter,
    CharRepetitionFilter,
    LineLengthFilter,
    SpecialCharactersFilter,
    WordRepetitionFilter,
)

DOCS = ["", "word", "!!!...???", "Hello, world! 123 😀", "中文，测试。", "abcabcabcabcabc", "x" * 3000 + "\nshort"]


def column(op, name, texts=DOCS):
    return op.compute_stats(pa.table({"text": pa.array(texts, pa.string())})).column(name).to_pylist()


def reasons(op, texts=DOCS):
    return op.decide(op.compute_stats(pa.table({"text": pa.array(texts, pa.string())}))).to_pylist()


def test_alphanumeric_ratio():
    values = column(AlphanumericFilter(), "text_alnum_ratio")
    assert values == [0.0, 1.0, 0.0, pytest.approx(13 / 19), pytest.approx(4 / 6), 1.0, pytest.approx(3005 / 3006)]
    low = "text_stats:alnum_ratio_too_low"
    assert reasons(AlphanumericFilter()) == [low, None, low, None, None, None, None]
    high = "text_stats:alnum_ratio_too_high"
    assert reasons(AlphanumericFilter(max_ratio=0.9)) == [low, high, low, None, None, high, high]
    # combining marks count as alphanumeric (Devanagari vowel signs)
    assert column(AlphanumericFilter(), "text_alnum_ratio", ["हिन्दी"]) == [1.0]


def test_special_characters_ratio():
    values = column(SpecialCharactersFilter(), "text_special_char_ratio")
    # "Hello, world! 123 😀": , space ! space 1 2 3 space 😀 = 9 of 19
    assert values == [0.0, 0.0, 1.0, pytest.approx(9 / 19), pytest.approx(2 / 6), 0.0, pytest.approx(1 / 3006)]
    assert reasons(SpecialCharactersFilter()) == [None, None] + ["text_stats:special_char_ratio_too_high"] * 3 + [None, None]
    assert reasons(SpecialCharactersFilter(min_ratio=0.01))[:2] == ["text_stats:special_char_ratio_too_low"] * 2


def reference_char_rep(text: str, n: int) -> float:
    grams = Counter(text[i:i + n] for i in range(len(text) - n + 1))
    if not grams:
        return 0.0
    freqs = sorted(grams.values(), reverse=True)
    k = min(int(math.sqrt(len(freqs))), len(freqs) - sum(f == 1 for f in freqs))
    return sum(freqs[:k]) / sum(freqs)


def test_char_repetition_ratio_matches_reference_formula():
    texts = DOCS + ["the cat the cat the cat sat", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "no repeats in this line!"]
    values = column(CharRepetitionFilter(), "text_char_rep_ratio", texts)
    assert values == [pytest.approx(reference_char_rep(t, 10)) for t in texts]
    assert values[5] == pytest.approx(2 / 6)  # abcabcabcabcabc: three 10-grams twice each; k = 1
    assert column(CharRepetitionFilter(rep_len=3), "text_char_rep_ratio", texts) == [
        pytest.approx(reference_char_rep(t, 3)) for t in texts]


def test_word_repetition_ratio():
    text = "a b c d e f g h i j a b c d e f g h i j k"  # 21 words, 12 10-grams, one occurs twice
    values = column(WordRepetitionFilter(), "text_word_rep_ratio", [text, "", "one two", " ".join(["w"] * 20)])
    assert values == [pytest.approx(2 / 12), 0.0, 0.0, 1.0]
    assert reasons(WordRepetitionFilter(), [text, " ".join(["w"] * 20)]) == [None, "text_stats:word_rep_ratio_too_high"]


def test_line_lengths():
    op = LineLengthFilter()
    t = op.compute_stats(pa.table({"text": DOCS}))
    assert t.column("text_avg_line_length").to_pylist() == [0.0, 4.0, 9.0, 19.0, 6.0, 15.0, 3005 / 2]
    assert t.column("text_max_line_length").to_pylist() == [0, 4, 9, 19, 6, 15, 3000]
    short = "text_stats:avg_line_length_too_short"
    assert op.decide(t).to_pylist() == [short] * 3 + [None, short, None, None]
    long_avg = "text_stats:avg_line_length_too_long"
    assert LineLengthFilter(max_avg_length=18).decide(t).to_pylist()[3:] == [long_avg, short, None, long_avg]
    assert LineLengthFilter(max_max_length=1000).decide(t).to_pylist()[3:] == [
        None, short, None, "text_stats:max_line_length_too_long"]
    assert op.stat_thresholds() == {"text_avg_line_length": (10, None), "text_max_line_length": (10, None)}


def test_bounds_are_validated():
    with pytest.raises(ValueError, match="min_ratio must be <= max_ratio"):
        AlphanumericFilter(min_ratio=0.9, max_ratio=0.1)
    with pytest.raises(ValueError, match="min_max_length must be <= max_max_length"):
        LineLengthFilter(min_max_length=50, max_max_length=20)
