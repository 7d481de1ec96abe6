"""flagged_words_filter and stopwords_filter: word boundaries, phrases, CJK substrings,
per-language lists, user files."""

from __future__ import annotations

import gzip
import json
import re

import pyarrow as pa
import pytest

from operators.quality import wordlists
from operators.quality.keywords import FlaggedWordsFilter, KeywordList, StopwordsFilter
from tests.conftest import shared_path


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
    kl = KeywordList.from_entries(["Hello", "  two  words ", "(x)", "東京", "...", "", "'s", "N’T", "l’"])
    assert kl.words == {"hello", "x", "'s", "n't", "l'"}  # clitics keep their apostrophe
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


def test_stop_words_with_apostrophes():
    f = StopwordsFilter()
    texts = ["it's don't I'm we're they've", "it’s don’t I’m we’re they’ve",  # curly apostrophes too
             "John's car isn't red", "s d m ll ve", "c'est qu'il l'homme"]
    t, _ = run_stats(f, texts, ["en", "en", "en", "en", "fr"])
    ratios = t.column("stopwords_ratio").to_pylist()
    assert ratios[:2] == [1.0, 1.0]
    assert ratios[2] == pytest.approx(1 / 4)  # isn't (is + n't); John's is not a stop word
    assert ratios[3] == 0.0  # the clitics alone are no longer the words s, d, m, ll, ve
    assert ratios[4] == pytest.approx(2 / 3)  # c'est, qu'il; l'homme is not (homme is no stop word)


def test_flagged_words_in_a_word_with_an_apostrophe():
    t, _ = run_stats(FlaggedWordsFilter(), ["Quel fils d'enculé.", "C'est l'été."], ["fr", "fr"])
    assert t.column("flagged_words_count").to_pylist() == [1, 0]


def udhr_sentences(tag: str) -> list[str]:
    with gzip.open(shared_path("langid/udhr2_paragraphs.jsonl.gz"), "rt", encoding="utf-8") as f:
        paragraphs = [r["text"] for r in map(json.loads, f) if r["lang_tag"] == tag]
    return [s for p in paragraphs for s in re.split(r"(?<=[。！？；])", p) if s.strip()]


def test_chinese_and_japanese_everyday_text_is_not_flagged():
    """UDHR sentences (everyday, formal text): at most 0.5% removed at the default (2.5% before:
    single characters such as 干 in 干涉 "interfere", 私 in 私生活 "private life", and common words
    such as 國家 "nation", 奴隷 "slavery" matched as substrings)."""
    f = FlaggedWordsFilter()
    removed = total = 0
    for tag, lang in (("cmn_hans", "zh"), ("cmn_hant", "zh"), ("jpn", "ja")):
        sentences = udhr_sentences(tag)
        assert len(sentences) > 100
        _, reasons = run_stats(f, sentences, [lang] * len(sentences))
        removed += sum(r is not None for r in reasons)
        total += len(sentences)
    print(f"flagged_words_filter on UDHR zh/ja: {removed} of {total} sentences removed")
    assert removed / total <= 0.005


def test_chinese_and_japanese_flagged_terms_still_found():
    f = FlaggedWordsFilter()
    texts = ["你这个傻逼，操你妈。", "他在比赛中干涉了裁判。", "操！", "強姦は犯罪です。", "女王の国", "女"]
    t, _ = run_stats(f, texts, ["zh", "zh", "zh", "ja", "ja", "ja"])
    counts = t.column("flagged_words_count").to_pylist()
    assert counts[0] >= 2  # multi-character terms match inside running text
    assert counts[1] == 0  # 比 and 干 inside words are not the flagged single characters
    assert counts[2] == 1  # a flagged single character standing alone still counts
    assert counts[3] >= 1 and counts[4] == 0 and counts[5] == 1
