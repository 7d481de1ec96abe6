"""Keyword-list ratios: flagged (obscene / offensive) words and stop words, per language."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, PrivateAttr

from operators.base import Op, RuleFilter
from operators.quality import wordlists
from operators.quality._common import add_columns, ratio
from operators.registry import register
from operators.text.splitting import Pieces, split_words, text_array

# Scripts written without spaces between words: entries in them are matched as substrings.
_UNSPACED_SCRIPT = re.compile(
    "[\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
    "\u0e00-\u0e7f\u0e80-\u0eff\u1780-\u17ff\u1000-\u109f]"
)
_SUBSTRING_CHUNK = 500  # entries per RE2 alternation
# Two or more characters of those scripts in a row: a single-character flagged entry inside such
# a run is part of a longer word (比 in 比赛 "match", 干 in 干涉 "interfere"), not the word itself.
_UNSPACED_RUN = "[" + _UNSPACED_SCRIPT.pattern[1:-1] + "]{2,}"
# Apostrophe look-alikes, written as ' in list entries and document words before matching
_APOSTROPHES = "\u2019\u2018\u02bc\uff07"
_APOSTROPHE_RE = re.compile(f"[{_APOSTROPHES}]")


def unify_apostrophes(text: str) -> str:
    return _APOSTROPHE_RE.sub("'", text)


def _split_at_apostrophe(word: str) -> list[tuple[str, str]]:
    """The ways to cut a word at an apostrophe into a stem and a clitic, as spaCy's lists write
    them: it|'s, do|n't, l'|homme."""
    cuts = []
    for i, ch in enumerate(word):
        if ch != "'" or i == 0 or i == len(word) - 1:
            continue
        cuts += [(word[:i], word[i:]), (word[:i + 1], word[i + 1:])]
        if word[i - 1] == "n" and i > 1:
            cuts.append((word[:i - 1], word[i - 1:]))
    return cuts


@dataclass
class KeywordList:
    """A list prepared for matching: single words, multi-word phrases (both matched against the
    shared splitter's lower-cased words, so on word boundaries) and substrings (entries in
    scripts without spaces: Han, kana, Thai, Lao, Khmer, Myanmar).

    Entries and document words are normalized alike: lower-cased, apostrophe look-alikes (’ ‘ ʼ)
    written as '. Clitic entries (spaCy's 's n't 'll, French l' qu') are kept with their
    apostrophe, and a document word with an apostrophe that is not itself listed is cut into
    stem + clitic: with `clitics="all"` it matches when both parts are listed ("it's", "don't",
    "c'est"; not "John's"), with `clitics="any"` when either is ("d'enculé").
    With `standalone_single=True`, a one-character entry of those scripts matches only where it
    stands alone, not inside a run of two or more such characters (a word of its own there)."""

    words: set[str] = field(default_factory=set)
    phrases: dict[int, set[str]] = field(default_factory=dict)
    substrings: list[str] = field(default_factory=list)
    singles: list[str] = field(default_factory=list)  # one-character substrings matched standalone
    clitics: Literal["all", "any"] = "all"

    @classmethod
    def from_entries(cls, entries: list[str], clitics: Literal["all", "any"] = "all",
                     standalone_single: bool = False) -> KeywordList:
        out = cls(clitics=clitics)
        plain = []
        for entry in entries:
            entry = unify_apostrophes(entry.strip().lower())
            if not entry:
                continue
            if _UNSPACED_SCRIPT.search(entry):
                (out.singles if standalone_single and len(entry) == 1 else out.substrings).append(entry)
            elif " " not in entry and (entry.startswith("'") or entry.endswith("'")):
                out.words.add(entry)  # a clitic: the splitter would strip its apostrophe
            else:
                plain.append(entry)
        # entries go through the same word splitter as the documents, so they match alike
        for tokens in split_words(pa.array(plain, pa.string())).to_pylist():
            if len(tokens) == 1:
                out.words.add(tokens[0])
            elif tokens:
                out.phrases.setdefault(len(tokens), set()).add(" ".join(tokens))
        out.substrings = sorted(set(out.substrings))
        out.singles = sorted(set(out.singles))
        return out

    def __len__(self) -> int:
        return len(self.words) + sum(len(p) for p in self.phrases.values()) + len(self.substrings) + len(self.singles)

    def __post_init__(self) -> None:
        self._prepared: tuple[pa.Array, dict[int, tuple[pa.Array, pa.Array]], list[str]] | None = None

    def prepared(self) -> tuple[pa.Array, dict[int, tuple[pa.Array, pa.Array]], list[str]]:
        """Arrow value sets and RE2 patterns, built once per list."""
        if self._prepared is None:
            phrase_sets = {n: (pa.array(sorted(p), pa.string()), pa.array(sorted({x.split(" ")[0] for x in p}), pa.string()))
                           for n, p in self.phrases.items()}
            patterns = ["|".join(re.escape(s) for s in self.substrings[i:i + _SUBSTRING_CHUNK])
                        for i in range(0, len(self.substrings), _SUBSTRING_CHUNK)]
            self._prepared = (pa.array(sorted(self.words), pa.string()), phrase_sets, patterns)
        return self._prepared

    def count(self, texts: pa.Array, words: Pieces, lower_words: pa.Array) -> np.ndarray:
        """Matches per document: words + phrases (on word boundaries) + substrings."""
        word_set, phrase_sets, patterns = self.prepared()
        total = np.zeros(len(texts), dtype=np.int64)
        lower_words = pc.replace_substring_regex(lower_words, f"[{_APOSTROPHES}]", "'")
        if len(word_set) and len(words):
            total += words.sum(self._word_hits(lower_words, word_set))
        for n, (phrases, first_words) in phrase_sets.items():
            total += _count_phrases(words, lower_words, n, phrases, first_words)
        if patterns or self.singles:
            lower_text = pc.utf8_lower(texts)
            for pattern in patterns:
                total += _count_regex(lower_text, pattern)
            if self.singles:
                alone = pc.replace_substring_regex(lower_text, _UNSPACED_RUN, " ")
                total += _count_regex(alone, "|".join(re.escape(s) for s in self.singles))
        return total

    def _word_hits(self, lower_words: pa.Array, word_set: pa.Array) -> np.ndarray:
        """Listed words, and words with an apostrophe whose stem and clitic are listed (see clitics)."""
        hit = _np_bool(pc.is_in(lower_words, value_set=word_set))
        maybe = np.flatnonzero(~hit & _np_bool(pc.match_substring(lower_words, "'")))
        if len(maybe):
            combine = all if self.clitics == "all" else any
            for i, word in zip(maybe, lower_words.take(pa.array(maybe)).to_pylist()):
                hit[i] = any(combine((stem in self.words, clitic in self.words))
                             for stem, clitic in _split_at_apostrophe(word))
        return hit


def _count_regex(texts: pa.Array, pattern: str) -> np.ndarray:
    return np.asarray(pc.count_substring_regex(texts, pattern).to_numpy(zero_copy_only=False), dtype=np.int64)


def _count_phrases(words: Pieces, lower_words: pa.Array, n: int, phrases: pa.Array, first_words: pa.Array) -> np.ndarray:
    """Occurrences of n-word phrases: n consecutive words of a document, joined by spaces. Only
    positions whose word starts some phrase are joined."""
    size = len(words)
    if size < n:
        return np.zeros(words.num_docs, dtype=np.int64)
    parents = words.parents()
    starts = np.flatnonzero(_np_bool(pc.is_in(lower_words.slice(0, size - n + 1), value_set=first_words)))
    starts = starts[parents[starts] == parents[starts + n - 1]]
    if len(starts) == 0:
        return np.zeros(words.num_docs, dtype=np.int64)
    joined = lower_words.take(pa.array(starts))
    for k in range(1, n):
        joined = pc.binary_join_element_wise(joined, lower_words.take(pa.array(starts + k)), " ")
    hit = _np_bool(pc.is_in(joined, value_set=phrases))
    return np.bincount(parents[starts[hit]], minlength=words.num_docs).astype(np.int64)


def _np_bool(arr: pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=bool)


class _KeywordRatioFilter(RuleFilter):
    """Ratio of list matches to words, with a list per document language."""

    kind_of_list: ClassVar[str] = ""
    clitics: ClassVar[Literal["all", "any"]] = "all"
    standalone_single: ClassVar[bool] = False

    path: str | None = Field(None, description="a list file (one entry per line, UTF-8) used for every document; null: the shipped list of each document's language")
    default_language: str = Field("en", description="language of documents without a `lang` value")
    lang_column: str = Field("lang", description="column with each document's language (from language_filter)")

    _lists: dict[str, KeywordList | None] = PrivateAttr(default_factory=dict)

    def setup(self) -> None:
        if self.path is not None:
            file = Path(self.path).expanduser()
            if not file.is_file():
                raise FileNotFoundError(f"{self.name}: word list not found: {file}")
            entries = file.read_text(encoding="utf-8").splitlines()
            self._lists = {"*": self._prepare(entries)}

    def _list_for(self, lang: str) -> KeywordList | None:
        key = "*" if self.path is not None else lang
        if key not in self._lists:
            entries = wordlists.read(self.kind_of_list, lang)
            self._lists[key] = self._prepare(entries) if entries is not None else None
        return self._lists[key]

    def _prepare(self, entries: list[str]) -> KeywordList:
        return KeywordList.from_entries(entries, clitics=self.clitics, standalone_single=self.standalone_single)

    def _ratios(self, table: pa.Table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(matches, words, has_list) per document."""
        self.ensure_setup()
        texts = text_array(table)
        n = len(texts)
        if self.lang_column in table.column_names and self.path is None:
            langs = pc.fill_null(table.column(self.lang_column), self.default_language).to_numpy(zero_copy_only=False)
        else:
            langs = np.full(n, self.default_language, dtype=object)
        matches = np.zeros(n, dtype=np.int64)
        n_words = np.zeros(n, dtype=np.int64)
        has_list = np.zeros(n, dtype=bool)
        for lang in sorted(set(langs.tolist())):
            rows = np.flatnonzero(langs == lang)
            sub = texts if len(rows) == n else texts.take(pa.array(rows))
            words = split_words(sub)
            n_words[rows] = words.counts()
            keywords = self._list_for(lang)
            if keywords is None:
                self.add_metric(f"{self.family}:no_list_{lang}", len(rows))
                continue
            has_list[rows] = True
            matches[rows] = keywords.count(sub, words, pc.utf8_lower(words.values))
        return matches, n_words, has_list


@register
class FlaggedWordsFilter(_KeywordRatioFilter):
    """Remove documents with too many flagged (obscene / offensive) words per word.

    Ratio = matches / words (shared splitter). Words and phrases of the list match whole
    lower-cased words (word boundaries); a word with an apostrophe also matches when a part of it
    is listed ("d'enculé"). Entries in scripts without spaces (Chinese, Japanese, Thai...) match
    as substrings of the lower-cased text, except one-character entries, which match only
    standing alone: 干 in "干!" counts, in 干涉 ("interfere") it does not. The list is chosen per document from
    its `lang` column (see language_filter), else `default_language`; documents of a language
    without a list keep a null ratio and are never removed (metric
    `flagged_words:no_list_<lang>`). Shipped lists: 14 languages from safetext 0.3.3 (MIT, an
    extension of the LDNOOBW lists C4 used; see wordlists/SOURCES.md), or your own file (`path`).

    Default `max_ratio` 0.045: Data-Juicer's flagged_words_filter (from BigScience ROOTS).
    C4's rule (remove a page with any listed word) is `max_ratio: 0`. On the UDHR in Chinese
    (simplified, traditional) and Japanese, split into 317 sentences, none is removed at the
    default (2.5% before everyday words left the lists, see wordlists/SOURCES.md).

    Words differ from Data-Juicer's: DJ splits on whitespace, then strips digits, punctuation and
    symbols from each word's edges and lower-cases; here only punctuation is stripped, so digits
    and symbols stay part of the word. "shit123" and "2girls" match in DJ (as "shit", "girls"),
    not here; "shit!" matches in both. DJ also segments Chinese with jieba, while here each Han
    character is a word (the ratio's denominator is larger on Chinese text).
    """

    name = "flagged_words_filter"
    family: ClassVar[str] = "flagged_words"
    kind_of_list: ClassVar[str] = "flagged"
    clitics: ClassVar[Literal["all", "any"]] = "any"
    standalone_single: ClassVar[bool] = True

    max_ratio: float | None = Field(0.045, ge=0, description="remove if flagged words per word are above this (Data-Juicer/ROOTS: 0.045; C4: 0)")

    def rules(self) -> list[tuple[str, Op, float | None, str]]:
        return [("flagged_words_ratio", ">", self.max_ratio, "ratio")]

    def compute_stats(self, table: pa.Table) -> pa.Table:
        matches, n_words, has_list = self._ratios(table)
        value = ratio(matches, n_words)
        return add_columns(table, {
            "flagged_words_count": (pa.array(matches, pa.int64(), mask=~has_list), pa.int64()),
            "flagged_words_ratio": (pa.array(value, pa.float64(), mask=~has_list), pa.float64()),
        })


@register
class StopwordsFilter(_KeywordRatioFilter):
    """Remove documents with too few stop words per word (text that is not running prose).

    Ratio = stop-word occurrences / words, matched like flagged_words_filter (whole lower-cased
    words; substrings for Chinese / Japanese entries, one-character ones included). spaCy's lists
    hold contractions as clitics ('s n't 're 'll, French l' qu'); a word with an apostrophe
    counts when all its parts are listed: "it's", "don't", "I’m", "c'est" are stop words, "John's"
    is not (John is no stop word). Lists per document language from spaCy 3.8 (MIT; 31 languages,
    see wordlists/SOURCES.md) or your own file (`path`); languages without a list keep a null
    ratio and are never removed.

    Default `min_ratio` 0.3: Data-Juicer's stopwords_filter (from BigScience ROOTS).

    Words differ from Data-Juicer's: DJ strips digits, punctuation and symbols from each word's
    edges and lower-cases; here only punctuation is stripped. "the2" is a stop word in DJ (as
    "the"), not here; "The," is one in both. DJ's word list for a contraction is whatever its
    tokenizer makes of it; here "don't" is one word that counts once.
    """

    name = "stopwords_filter"
    family: ClassVar[str] = "stopwords"
    kind_of_list: ClassVar[str] = "stopwords"

    min_ratio: float | None = Field(0.3, ge=0, description="remove if stop words per word are below this (Data-Juicer/ROOTS: 0.3)")

    def rules(self) -> list[tuple[str, Op, float | None, str]]:
        return [("stopwords_ratio", "<", self.min_ratio, "ratio")]

    def compute_stats(self, table: pa.Table) -> pa.Table:
        matches, n_words, has_list = self._ratios(table)
        return add_columns(table, {
            "stopwords_ratio": (pa.array(ratio(matches, n_words), pa.float64(), mask=~has_list), pa.float64()),
        })
