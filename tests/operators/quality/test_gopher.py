"""Gopher quality and repetition rules: statistics computed by hand on crafted documents."""

from __future__ import annotations

import pyarrow as pa
import pytest

from operators.quality.gopher_quality import GopherQualityFilter
from operators.quality.gopher_repetition import GopherRepetitionFilter


def stats(op, texts: list[str]) -> list[dict]:
    table = op.compute_stats(pa.table({"text": pa.array(texts, pa.string())}))
    return table.drop(["text"]).to_pylist()


def reasons(op, texts: list[str]) -> list[str | None]:
    table = op.compute_stats(pa.table({"text": pa.array(texts, pa.string())}))
    return op.decide(table).to_pylist()


DOC = "The cat sat with the dog.\n• item one\n• item two...\n#hash 42 ..."


def test_gopher_quality_statistics_by_hand():
    (s,) = stats(GopherQualityFilter(), [DOC])
    # words: The cat sat with the dog item one item two hash 42 ("•", "..." are punctuation only)
    assert s["gopher_word_count"] == 12
    assert s["gopher_mean_word_length"] == pytest.approx(39 / 12)
    assert s["gopher_hash_ratio"] == pytest.approx(1 / 12)
    assert s["gopher_ellipsis_ratio"] == pytest.approx(2 / 12)  # "two..." and "..."
    assert s["gopher_bullet_lines_frac"] == pytest.approx(2 / 4)
    assert s["gopher_ellipsis_lines_frac"] == pytest.approx(2 / 4)
    assert s["gopher_alpha_words_frac"] == pytest.approx(11 / 12)  # all but "42"
    assert s["gopher_stop_word_count"] == 3  # The, with, the


def test_gopher_quality_rules_in_order():
    assert reasons(GopherQualityFilter(), [DOC]) == ["gopher_quality:too_few_words"]
    assert reasons(GopherQualityFilter(min_words=None), [DOC]) == ["gopher_quality:ellipsis_ratio"]
    loose = GopherQualityFilter(min_words=None, max_ellipsis_ratio=None)
    assert reasons(loose, [DOC]) == ["gopher_quality:ellipsis_lines_frac"]
    keep_all = GopherQualityFilter(min_words=None, max_ellipsis_ratio=None, max_ellipsis_lines_frac=None)
    assert reasons(keep_all, [DOC]) == [None]
    assert reasons(GopherQualityFilter(min_words=None, min_stop_words=4, max_ellipsis_ratio=None,
                                       max_ellipsis_lines_frac=None), [DOC]) == ["gopher_quality:stop_word_count"]


def test_gopher_quality_edge_documents():
    docs = ["", "word", "!!! ... ???", "中文字符测试", "x" * 20000, "Résumé naïve 東京 Москва"]
    s = stats(GopherQualityFilter(), docs)
    assert [r["gopher_word_count"] for r in s] == [0, 1, 0, 6, 1, 5]
    assert [r["gopher_mean_word_length"] for r in s[:4]] == [0.0, 4.0, 0.0, 1.0]
    assert s[0]["gopher_alpha_words_frac"] == 0.0 and s[2]["gopher_ellipsis_ratio"] == 0.0  # no words: ratios are 0
    assert s[3]["gopher_alpha_words_frac"] == 1.0  # Han characters are letters
    assert s[4]["gopher_mean_word_length"] == 20000.0
    mixed = s[5]  # Résumé naïve 東 京 Москва
    assert mixed["gopher_word_count"] == 5 and mixed["gopher_mean_word_length"] == pytest.approx((6 + 5 + 1 + 1 + 6) / 5)
    assert reasons(GopherQualityFilter(), docs) == ["gopher_quality:too_few_words"] * 6
    long_doc = " ".join(["the word"] * 60)
    assert reasons(GopherQualityFilter(max_words=100), [long_doc]) == ["gopher_quality:too_many_words"]
    assert reasons(GopherQualityFilter(), [long_doc]) == [None]


def test_gopher_quality_reasons_say_the_direction():
    """Each bound of a range has its own reason: too few / too many words, too short / too long words."""
    prose = " ".join(["the cat and the dog sat with the bird"] * 8)  # 72 words, mean length 3.0
    op = GopherQualityFilter(min_words=10, max_words=50, min_mean_word_length=3.5, max_mean_word_length=4)
    assert reasons(op, ["the cat sat", prose]) == ["gopher_quality:too_few_words", "gopher_quality:too_many_words"]
    op = GopherQualityFilter(min_words=10, min_mean_word_length=3.5, max_mean_word_length=4)
    long_words = " ".join(["the extraordinarily complicated and the interminable"] * 10)
    assert reasons(op, [prose, long_words]) == ["gopher_quality:mean_word_length_too_short",
                                                "gopher_quality:mean_word_length_too_long"]
    with pytest.raises(ValueError, match="min_words must be <= max_words"):
        GopherQualityFilter(min_words=100, max_words=10)


def test_gopher_quality_thresholds_and_params():
    f = GopherQualityFilter()
    th = f.stat_thresholds()
    assert th["gopher_word_count"] == (50, 100_000)
    assert th["gopher_mean_word_length"] == (3, 10)
    assert th["gopher_alpha_words_frac"] == (0.8, None)
    assert th["gopher_stop_word_count"] == (2, None)
    # Gopher (Rae et al. 2021, appendix A): fewer than 50 or more than 100,000 words is removed,
    # exactly 50 is kept; mean word length outside [3, 10] is removed, 3 and 10 are kept
    prose = "the house with a garden " * 10  # 50 words, mean length 3.4, stop words, all alphabetic
    assert reasons(f, [prose, prose.rsplit(" ", 2)[0]]) == [None, "gopher_quality:too_few_words"]
    assert reasons(f, ["the and for " * 20, "with abcdefghijklmnop " * 25]) == [None, None]  # means 3.0, 10.0
    assert reasons(f, ["with abcdefghijklmnopq " * 25]) == ["gopher_quality:mean_word_length_too_long"]  # mean 10.5
    assert reasons(f, ["an be " * 30]) == ["gopher_quality:mean_word_length_too_short"]  # mean 2.0


def test_gopher_repetition_lines_and_paragraphs_by_hand():
    (s,) = stats(GopherRepetitionFilter(), ["x\nx\ny\n\nz\n\nz"])
    # paragraphs: "x\nx\ny", "z", "z" -> one duplicate of three; its 1 char of 7
    assert s["gopher_dup_para_frac"] == pytest.approx(1 / 3)
    assert s["gopher_dup_para_char_frac"] == pytest.approx(1 / 7)
    # lines: x x y z z -> two duplicates of five; 2 chars of 5
    assert s["gopher_dup_line_frac"] == pytest.approx(2 / 5)
    assert s["gopher_dup_line_char_frac"] == pytest.approx(2 / 5)
    assert reasons(GopherRepetitionFilter(), ["x\nx\ny\n\nz\n\nz"]) == ["gopher_repetition:dup_para_frac"]


def test_gopher_repetition_ngrams_by_hand():
    text = "the cat sat on the mat and the cat sat on the mat again today ok"
    (s,) = stats(GopherRepetitionFilter(), [text])
    total = 49  # characters in words
    # most frequent 2-grams all occur twice; the longest first one is "the cat" (6 chars) x 2
    assert s["gopher_top_2gram_char_frac"] == pytest.approx(12 / total)
    assert s["gopher_top_3gram_char_frac"] == pytest.approx(18 / total)  # "the cat sat" x 2
    assert s["gopher_top_4gram_char_frac"] == pytest.approx(22 / total)  # "the cat sat on" x 2
    # duplicated 5- and 6-grams cover "the cat sat on the mat" twice: 17 chars x 2
    assert s["gopher_dup_5gram_char_frac"] == pytest.approx(34 / total)
    assert s["gopher_dup_6gram_char_frac"] == pytest.approx(34 / total)
    assert s["gopher_dup_7gram_char_frac"] == 0.0
    assert reasons(GopherRepetitionFilter(), [text]) == ["gopher_repetition:top_2gram_char_frac"]


def test_gopher_repetition_overlapping_ngrams_never_exceed_one():
    (s,) = stats(GopherRepetitionFilter(), ["a b a b a b"])
    assert s["gopher_top_2gram_char_frac"] == 1.0  # "a b" at 0, 2, 4 covers everything
    assert s["gopher_top_3gram_char_frac"] == pytest.approx(5 / 6)  # "a b a" at 0 and 2
    assert s["gopher_top_4gram_char_frac"] == 1.0
    (s,) = stats(GopherRepetitionFilter(), [" ".join(["w"] * 50)])
    assert all(0.99 <= s[f"gopher_dup_{n}gram_char_frac"] <= 1.0 for n in range(5, 11))


def test_gopher_repetition_unique_text_and_edge_documents():
    unique = " ".join(f"w{i}" for i in range(300))
    docs = ["", "one", "。。。", "中文中文中文", unique]
    s = stats(GopherRepetitionFilter(), docs)
    assert all(v == 0.0 for v in s[0].values()) and all(v == 0.0 for v in s[1].values())
    assert all(v == 0.0 for v in s[4].values())
    # 中 文 中 文 中 文: the 2-gram "中文" occurs 3 times and covers all 6 characters
    assert s[3]["gopher_top_2gram_char_frac"] == 1.0
    assert reasons(GopherRepetitionFilter(), docs) == [None, None, None, "gopher_repetition:top_2gram_char_frac", None]


def test_gopher_repetition_does_not_depend_on_batch_neighbours():
    docs = ["the cat sat on the mat and the cat sat on the mat again today ok", "a b a b a b c", "x\nx\ny"]
    together = stats(GopherRepetitionFilter(), docs)
    alone = [stats(GopherRepetitionFilter(), [d])[0] for d in docs]
    assert together == alone
