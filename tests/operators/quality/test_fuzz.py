"""No quality rule raises on arbitrary Unicode; statistics stay finite and fractions in [0, 1]."""

from __future__ import annotations

import math

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from operators import registry
from operators.base import Filter, Mapper
from operators.quality.keywords import FlaggedWordsFilter

QUALITY_OPS = [
    "language_filter", "gopher_quality_filter", "gopher_repetition_filter", "c4_line_cleaner", "c4_quality_filter",
    "fineweb_quality_filter", "flagged_words_filter", "stopwords_filter", "alphanumeric_filter",
    "special_characters_filter", "char_repetition_filter", "word_repetition_filter", "line_length_filter",
]
# ratios that may exceed 1 by definition (per word, not a fraction)
UNBOUNDED = {"gopher_hash_ratio", "gopher_ellipsis_ratio", "fineweb_newline_word_ratio"}

_OPS = [registry.build(name) for name in QUALITY_OPS] + [FlaggedWordsFilter(max_ratio=0.0)]
for _op in _OPS:
    _op.ensure_setup()

pieces = st.one_of(
    st.text(max_size=60),  # any code point but surrogates
    st.sampled_from(["\n", "\r\n", "\n\n", "...", "…", "#", "•", "{", "lorem ipsum", "javascript", "中文", "。", " "]),
    st.text(alphabet=st.characters(codec="utf-8", categories=["Zs", "Zl", "Zp", "Cc", "Po", "Lo", "Mn"]), max_size=20),
)
documents = st.lists(pieces, max_size=12).map("".join)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(documents, min_size=1, max_size=5), st.lists(st.sampled_from(["en", "zh", "fr", "xx", None]), min_size=5, max_size=5))
def test_no_rule_raises_on_arbitrary_unicode(texts, langs):
    table = pa.table({"text": pa.array(texts, pa.string()), "lang": pa.array(langs[: len(texts)], pa.string())})
    for op in _OPS:
        result = op.apply(table)
        assert result.table.num_rows == len(texts)
        if isinstance(op, Mapper):
            assert result.reasons is None
            continue
        assert isinstance(op, Filter) and len(result.reasons) == len(texts)
        for name in result.table.column_names:
            if name in table.column_names or name in ("lang", "lang_score"):
                continue
            for value in result.table.column(name).to_pylist():
                if value is None or isinstance(value, bool):
                    continue
                assert math.isfinite(value), (op.name, name, value)
                if name.endswith(("_frac", "_ratio")) and name not in UNBOUNDED:
                    assert 0.0 <= value <= 1.0 + 1e-12, (op.name, name, value)
    empty = table.slice(0, 0)
    for op in _OPS:
        assert op.apply(empty).table.num_rows == 0
