"""C4 line cleaner and page filter, FineWeb rules: hand-computed results on crafted documents."""

from __future__ import annotations

import pyarrow as pa
import pytest

from operators.quality.c4 import C4LineCleaner, C4QualityFilter
from operators.quality.fineweb import FineWebQualityFilter

PAGE = "\n".join([
    "This is a fine line of text.",
    "Short one.",
    "No end mark on this line at all",
    "Please enable JavaScript to view this page.",
    "We use cookies on this web site, ok.",
    "Cited claim is here in text [12].",
    "A " + "y" * 1001 + " word here.",
    "Trailing dots here are not a stop...",
    "The lorem ipsum text and javascript are here.",
    "Curly { braces and our privacy policy here.",
    "",
])


def table(*texts: str) -> pa.Table:
    return pa.table({"text": pa.array(list(texts), pa.string())})


def test_c4_line_cleaner_follows_tfds_order():
    cleaner = C4LineCleaner()
    out = cleaner.process(table(PAGE, "", "Only five words are here."))
    assert out.column("text").to_pylist() == [
        "This is a fine line of text.\n"
        "Cited claim is here in text .\n"  # citation removed, then 7 tokens
        "The lorem ipsum text and javascript are here.\n"  # lorem: kept for the page rule
        "Curly { braces and our privacy policy here.",  # "{": kept for the page rule
        "",
        "Only five words are here.",
    ]
    assert out.column("c4_lines_removed").to_pylist() == [6, 0, 0]
    assert cleaner.pop_metrics() == {
        "c4:lines_too_long_word": 1, "c4:lines_no_terminal_punct": 2, "c4:lines_too_few_words": 1,
        "c4:lines_javascript": 1, "c4:lines_policy": 1,
    }


def test_c4_line_cleaner_without_terminal_punctuation_rule():
    cleaner = C4LineCleaner(require_terminal_punctuation=False)
    kept = cleaner.process(table(PAGE)).column("text").to_pylist()[0].split("\n")
    assert "No end mark on this line at all" in kept
    assert "Trailing dots here are not a stop..." in kept
    assert "Short one." not in kept and len(kept) == 6
    assert "c4:lines_no_terminal_punct" not in cleaner.pop_metrics()


def test_c4_defaults_are_the_papers_not_datatrove():
    assert C4LineCleaner().min_words_per_line == 5
    assert C4QualityFilter().min_sentences == 3
    four_words = "One two three four.\nOne two three four five."
    assert C4LineCleaner().process(table(four_words)).column("text").to_pylist() == ["One two three four five."]


def test_c4_page_rules():
    f = C4QualityFilter()
    docs = table("One. Two. Three.", "One. Two.", "", "Lorem Ipsum dolor. A. B.", "f(x) { return 1; }. A. B. C.", "a\nb\nc")
    with_stats = f.compute_stats(docs)
    assert with_stats.column("c4_sentence_count").to_pylist() == [3, 2, 0, 3, 4, 3]
    assert f.decide(with_stats).to_pylist() == [
        None, "c4:too_few_sentences", "c4:too_few_sentences", "c4:lorem_ipsum", "c4:curly_bracket", None]
    assert f.stat_thresholds() == {"c4_sentence_count": (3, None)}
    off = C4QualityFilter(filter_lorem_ipsum=False, filter_curly_bracket=False, min_sentences=None)
    assert off.decide(off.compute_stats(docs)).null_count == 6


def test_c4_cleaner_then_filter_on_the_crafted_page():
    cleaned = C4LineCleaner().process(table(PAGE))
    kept, removed, reasons = C4QualityFilter().run(cleaned)
    assert kept.num_rows == 0 and reasons.to_pylist() == ["c4:lorem_ipsum"]


def fineweb_stats(*texts: str) -> tuple[list[dict], list[str | None]]:
    f = FineWebQualityFilter()
    t = f.compute_stats(table(*texts))
    return t.drop(["text"]).to_pylist(), f.decide(t).to_pylist()


def test_fineweb_statistics_by_hand():
    lines = ["Title", "This is a proper sentence that ends well.", "Menu", "Menu",
             "Another fine line of prose that is long enough."]
    (s,), reasons = fineweb_stats("\n".join(lines) + "\n\n\n")
    total = sum(len(x) for x in lines)
    assert s["fineweb_line_punct_ratio"] == pytest.approx(2 / 5)  # blank lines are not lines
    assert s["fineweb_short_line_frac"] == pytest.approx(3 / 5)
    assert s["fineweb_dup_line_char_frac"] == pytest.approx(4 / total)
    assert reasons == [None]


def test_fineweb_boundaries_are_inclusive_like_the_paper():
    long_no_punct = "a line of thirty or more chars without stop"
    doc = "\n".join([f"Sentence number {i} is long enough." for i in range(3)]
                    + [f"{long_no_punct} {i}" for i in range(22)])
    (s,), reasons = fineweb_stats(doc)
    assert s["fineweb_line_punct_ratio"] == pytest.approx(3 / 25)  # exactly 0.12: removed (<=)
    assert reasons == ["fineweb:line_punct_ratio"]
    (s,), _ = fineweb_stats("\n".join(["x" * 28 + ".", "y" * 29 + ".", "z" * 10 + "."]))
    assert s["fineweb_short_line_frac"] == pytest.approx(2 / 3)  # 29 characters is short, 30 is not
    dup = "\n".join(["A unique first line, ending well.", "dup dup dup dup dup.", "dup dup dup dup dup."])
    (s,), reasons = fineweb_stats(dup)
    assert s["fineweb_dup_line_char_frac"] == pytest.approx(20 / (33 + 20 + 20))
    assert reasons == ["fineweb:dup_line_char_frac"]


def test_fineweb_edge_documents_and_list_ratio():
    stats, reasons = fineweb_stats("", "word", "。。。", "中文句子。\n中文句子。")
    assert [s["fineweb_line_punct_ratio"] for s in stats] == [0.0, 0.0, 0.0, 0.0]
    assert reasons[0] == "fineweb:line_punct_ratio"  # no lines: nothing ends in punctuation
    f = FineWebQualityFilter(max_newline_word_ratio=0.3, min_line_punct_ratio=None, max_short_line_frac=None,
                             max_dup_line_char_frac=None)
    t = f.compute_stats(table("a\nb\nc", "one two three four five six seven\nend"))
    assert t.column("fineweb_newline_word_ratio").to_pylist() == [pytest.approx(2 / 3), pytest.approx(1 / 8)]
    assert f.decide(t).to_pylist() == ["fineweb:newline_word_ratio", None]
    assert FineWebQualityFilter().stat_thresholds() == {
        "fineweb_line_punct_ratio": (0.12, None), "fineweb_short_line_frac": (None, 0.67),
        "fineweb_dup_line_char_frac": (None, 0.1)}
