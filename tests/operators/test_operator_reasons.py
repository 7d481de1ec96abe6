"""Every registered filter declares every reason it can give (`registry.describe()["reasons"]`,
listed by `pipeline ops NAME`): run each one, with parameters that switch on each of its rules,
on the shipped sample plus edge cases, and check that every reason it gives is declared. Hand-
written lists (filters that are not RuleFilters) must also be reachable, so they cannot go stale.
"""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from operators import registry
from operators.base import Filter, RuleFilter
from operators.classifier.training import QualityConfig, train_quality_classifier
from operators.lm.training import LMConfig, train_language_model
from operators.quality.language import LanguageFilter
from tests.conftest import ROOT

SAMPLE = ROOT / "configs" / "sample_data"
LONG_PROSE = " ".join(["The river runs past the old mill and the children watch the boats go by."] * 12)
EDGE_CASES = [
    "", "   \n\t  ", "word", "!!!...???", "x" * 20000, "😀😀😀 🎉", "中文字符测试。这是第二句。", "a b c d e f g h",
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit.", "function f() { return 1; }",
    "- one\n- two\n- three\n- four", "Wait...\nAnd then...\nNothing...", "#tag #more #hash #yes",
    "same line\nsame line\nsame line\nsame line", "para one.\n\npara one.\n\npara one.", LONG_PROSE,
    "Ceci est une phrase en français, avec des mots et encore des mots pour la langue.",
    "\n".join(["short"] * 10), "a" * 300 + "\n" + "b" * 5,
]
# parameters per filter: each rule on at least once, both bounds of each range set somewhere
VARIANTS: dict[str, list[dict[str, Any]]] = {
    "text_length_filter": [{"min_chars": 50, "max_chars": 400}],
    "words_filter": [{"min_words": 10, "max_words": 60}],
    "alphanumeric_filter": [{"min_ratio": 0.5, "max_ratio": 0.8}],
    "special_characters_filter": [{"min_ratio": 0.18, "max_ratio": 0.25}],
    "char_repetition_filter": [{"min_ratio": 0.02, "max_ratio": 0.3}],
    "word_repetition_filter": [{"rep_len": 2, "min_ratio": 0.05, "max_ratio": 0.3}],
    "line_length_filter": [{"max_avg_length": 60}, {"min_avg_length": None, "min_max_length": 30, "max_max_length": 200}],
    "gopher_quality_filter": [{}, {"min_words": 5, "max_words": 60},
                              {"min_words": None, "max_words": None, "min_mean_word_length": 3.5, "max_mean_word_length": 5}],
    "gopher_repetition_filter": [{}],
    "c4_quality_filter": [{}],
    "fineweb_quality_filter": [{}, {"max_newline_word_ratio": 0.3}],
    "flagged_words_filter": [{"max_ratio": 0}],
    "stopwords_filter": [{}],
    "language_filter": [{"languages": ["en"]}, {"min_score": 0.99}],
}


def sample_texts() -> list[str]:
    texts: list[str] = []
    for path in sorted(SAMPLE.glob("part-*")):
        if path.suffix == ".parquet":
            texts += pq.read_table(path, columns=["text"]).column("text").to_pylist()
            continue
        if path.name.endswith(".gz"):
            raw = gzip.open(path, "rt", encoding="utf-8")
        else:
            raw = io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(path.open("rb")), encoding="utf-8")
        with raw:
            texts += [json.loads(line)["text"] for line in raw if line.strip()]
    return texts


@pytest.fixture(scope="module")
def table() -> pa.Table:
    """The sample (364 documents) and edge cases, with `lang` as language_filter sets it."""
    texts = sample_texts()
    assert len(texts) == 364
    docs = pa.table({"id": [f"doc-{i}" for i in range(len(texts) + len(EDGE_CASES))],
                     "text": pa.array(texts + EDGE_CASES, pa.string())})
    return LanguageFilter().compute_stats(docs)


@pytest.fixture(scope="module")
def lm_folder(table, tmp_path_factory) -> Path:
    english = [t for t, lang in zip(table.column("text").to_pylist(), table.column("lang").to_pylist()) if lang == "en"]
    folder = tmp_path_factory.mktemp("lm") / "en"
    # buckets of the training text itself: enough here, where only the reasons given are checked
    train_language_model(english, folder, LMConfig(order=3, vocab_size=500, sp_sentences=5000), cutoff_texts=english,
                         cutoff_trained=True)
    return folder


@pytest.fixture(scope="module")
def quality_folder(table, tmp_path_factory) -> Path:
    rows = list(zip(table.column("text").to_pylist(), table.column("lang").to_pylist()))
    folder = tmp_path_factory.mktemp("quality")
    train_quality_classifier([t for t, lang in rows if lang == "en"], [t for t, lang in rows if lang != "en"], folder,
                             QualityConfig(epoch=2))
    return folder


def model_variants(lm_folder: Path, quality_folder: Path) -> dict[str, list[dict[str, Any]]]:
    lm = str(lm_folder)
    return {
        "perplexity_filter": [{"models": {"en": lm}, "max_perplexity": 2}, {"model": lm, "keep_buckets": ["head"]},
                              {"model": lm, "keep_buckets": ["middle"]}],
        "quality_classifier_filter": [{"model": str(quality_folder), "threshold": 0.99},
                                      {"model": str(quality_folder), "mode": "pareto", "alpha": 1}],
    }


def registered_filters() -> dict[str, type[Filter]]:
    """The built-in filters (not ones a test registers for itself)."""
    registry.load_builtins()
    return {n: c for n in registry.names()
            if issubclass(c := registry.get(n), Filter) and c.__module__.startswith("operators.")}


def given_reasons(op: Filter, table: pa.Table) -> set[str]:
    op.ensure_setup()
    return {r for r in op.decide(op.compute_stats(table)).to_pylist() if r is not None}


def test_every_filter_declares_its_reasons():
    for name, cls in registered_filters().items():
        declared = registry.describe(cls)["reasons"]
        assert declared, f"{name} declares no removal reasons"
        assert all(r.count(":") == 1 and r.split(":")[1] for r in declared), (name, declared)


def test_filters_give_only_declared_reasons(table, lm_folder, quality_folder):
    variants = VARIANTS | model_variants(lm_folder, quality_folder)
    filters = registered_filters()
    assert set(filters) == set(variants), "give each registered filter parameters in VARIANTS"
    for name, cls in filters.items():
        declared = set(registry.describe(cls)["reasons"])
        given: set[str] = set()
        for params in variants[name]:
            given |= given_reasons(cls(**params), table)
        assert given, f"{name} removed nothing: its variants test no reason"
        assert given <= declared, f"{name} gave undeclared reasons {sorted(given - declared)}"
        if not issubclass(cls, RuleFilter):  # a hand-written list: each entry must be a real reason
            assert given == declared, f"{name}: declared reasons never given {sorted(declared - given)}"


def test_range_reasons_say_the_direction():
    """No reason covers both bounds of a range: each RuleFilter rule name belongs to one direction."""
    for name, cls in registered_filters().items():
        if not issubclass(cls, RuleFilter):
            continue
        by_name: dict[str, set[str]] = {}
        for _column, op, _threshold, rule in cls.model_construct().rules():
            by_name.setdefault(rule, set()).add("below" if op in ("<", "<=") else "above" if op != "true" else "true")
        both = [rule for rule, sides in by_name.items() if {"below", "above"} <= sides]
        assert not both, f"{name}: reasons {both} cover both a minimum and a maximum"
