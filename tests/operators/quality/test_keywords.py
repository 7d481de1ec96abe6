"""flagged_words_filter and stopwords_filter: word boundaries, phrases, CJK substrings,
per-language lists, user files."""

from __future__ import annotations

import pyarrow as pa
import pytest

from operators.quality import wordlists
from operators.quality.keywords import FlaggedWordsFilter, KeywordList, StopwordsFilter


def run_stats(op, texts, langs=None):
    data = {"text": pa.array(texts, pa.string())}
    if langs is not None:
        data["lang"] = pa.array(langs, pa.string())
    t = op.compute_stats(pa.table(data))
    return t, op.decide(t).to_pylist()


def test_shipped_lists():
    assert set(wordlists.available("flagged")) >= {"en", "de", "fr", "es", "ru", "zh", "ja"}
    assert len(wordlists.available("stopwords")) == 31
    assert "the" in wordlists.read("stopwords", "en")
    assert wordlists.read("flagged", "xx") is None
    assert "性" not in wordlists.read("flagged", "zh")  # C4's allowlist entry was removed


def test_flagged_words_on_word_boundaries_and_phrases():
    f = FlaggedWordsFilter()
    texts = ["This is a damn fine shit show, you ASSHOLE. 2 girls 1 cup!",
             "The class assessment passed; Scunthorpe is a town.",  # no substring matches in Latin text
             "", "..."]
    t, reasons = run_stats(f, texts)
    # 13 words; damn, shit, asshole, "2 girls 1 cup" (a phrase counts once)
    assert t.column("flagged_words_count").to_pylist() == [4, 0, 0, 0]
    assert t.column("flagged_words_ratio").to_pylist() == [pytest.approx(4 / 13), 0.0, 0.0, 0.0]
    assert reasons == ["flagged_words:ratio", None, None, None]
    c4_rule = FlaggedWordsFilter(max_ratio=0.0)
    assert run_stats(c4_rule, texts)[1] == ["flagged_words:ratio", None, None, None]


def test_flagged_words_cjk_substrings_and_languages():
    f = FlaggedWordsFilter()
    zh = "这是一个测试，里面有傻逼这个词。"
    t, reasons = run_stats(f, [zh, zh, "Das ist scheiße.", "Texto sin lista de idioma."], ["zh", "en", "de", "xx"])
    counts = t.column("flagged_words_count").to_pylist()
    assert counts[0] >= 1  # substring match in Chinese
    assert counts[1] == 0  # the English list has no Chinese entries
    assert counts[2] == 1
    assert counts[3] is None and t.column("flagged_words_ratio").to_pylist()[3] is None  # no list: null, kept
    assert reasons[3] is None
    assert f.pop_metrics() == {"flagged_words:no_list_xx": 1}


def test_user_list_file(tmp_path):
    path = tmp_path / "mine.txt"
    path.write_text("banana\nred apple\n苹果\n\n", encoding="utf-8")
    f = FlaggedWordsFilter(path=str(path), max_ratio=0.0)
    t, reasons = run_stats(f, ["I like bananas and a red apple.", "Banana!", "我爱吃苹果", "nothing here"],
                           ["en", "de", "zh", None])
    assert t.column("flagged_words_count").to_pylist() == [1, 1, 1, 0]  # "bananas" is another word
    assert reasons == ["flagged_words:ratio"] * 3 + [None]
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        FlaggedWordsFilter(path=str(tmp_path / "missing.txt")).ensure_setup()


def test_keyword_list_normalizes_entries_like_documents():
    kl = KeywordList.from_entries(["Hello", "  two  words ", "(x)", "東京", "...", ""])
    assert kl.words == {"hello", "x"}
    assert kl.phrases == {2: {"two words"}}
    assert kl.substrings == ["東京"]


def test_stopwords_ratio_per_language():
    f = StopwordsFilter()
    texts = ["The cat is on the mat and it is happy.", "Le chat est sur le tapis.", "qwerty zxcvb asdfg", "我们是中国人"]
    t, reasons = run_stats(f, texts, ["en", "fr", "en", "zh"])
    ratios = t.column("stopwords_ratio").to_pylist()
    # the is on the and it is: 7 of 10 words
    assert ratios[0] == pytest.approx(7 / 10)
    assert ratios[1] == pytest.approx(4 / 6)  # le, est, sur, le (spaCy fr list)
    assert ratios[2] == 0.0
    assert ratios[3] > 0
    assert reasons == [None, None, "stopwords:ratio", None]
    assert f.stat_thresholds() == {"stopwords_ratio": (0.3, None)}
