"""CONTRIBUTING.md's code runs as written: its example operator registers, computes its
statistics and removes with its declared reasons, so the guide cannot drift from the API."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest

from operators import registry
from operators.base import RuleFilter
from tests.conftest import ROOT

GUIDE = ROOT / "CONTRIBUTING.md"
EXAMPLE = "line_stats_filter"


def python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", GUIDE.read_text(encoding="utf-8"), flags=re.S | re.M)


@pytest.fixture
def guide_namespace() -> Iterator[dict[str, Any]]:
    """Every python block of the guide run in order in one namespace; the operators it registers
    are unregistered afterwards."""
    registry.load_builtins()
    assert EXAMPLE not in registry.names(), f"a real operator is named {EXAMPLE!r}: rename the guide's example"
    before = dict(registry._REGISTRY)
    namespace: dict[str, Any] = {"__name__": "contributing_guide"}
    try:
        for block in python_blocks():
            exec(compile(block, str(GUIDE), "exec"), namespace)
        yield namespace
    finally:
        registry._REGISTRY.clear()
        registry._REGISTRY.update(before)


def test_guide_has_the_example_blocks():
    blocks = python_blocks()
    assert len(blocks) >= 2 and any("@register" in b for b in blocks)


def test_example_operator_registers_and_filters(guide_namespace):
    cls = registry.get(EXAMPLE)
    assert cls is guide_namespace["LineStatsFilter"] and issubclass(cls, RuleFilter)
    info = registry.describe(cls)
    assert info["summary"].startswith("Keep documents with `min_lines` to `max_lines` lines")
    assert info["reasons"] == ["line_stats:too_few_lines", "line_stats:too_many_lines", "line_stats:list_frac"]
    assert {p["name"] for p in info["params"]} == {"min_lines", "max_lines", "max_list_frac"}

    docs = ["one line only", "first line\nsecond line\n\nthird line", "- a\n- b\n- c\nplain",
            "a\nb\nc\nd\ne\nf", ""]
    op = registry.build(EXAMPLE, {"max_lines": 5})
    table = op.compute_stats(pa.table({"text": docs}))
    assert table.column("line_stats_count").to_pylist() == [1, 3, 4, 6, 0]
    assert table.column("line_stats_list_frac").to_pylist() == [0.0, 0.0, 0.75, 0.0, 0.0]
    assert op.decide(table).to_pylist() == ["line_stats:too_few_lines", None, "line_stats:list_frac",
                                            "line_stats:too_many_lines", "line_stats:too_few_lines"]
    assert op.stat_thresholds() == {"line_stats_count": (2, 5), "line_stats_list_frac": (None, 0.5)}
    kept = op([{"text": d} for d in docs])
    assert kept.column("text").to_pylist() == [docs[1]]
    with pytest.raises(ValueError, match="min_lines must be <= max_lines"):
        registry.build(EXAMPLE, {"min_lines": 9, "max_lines": 3})


def test_guide_python_api_block_runs(guide_namespace):
    assert guide_namespace["reasons"].to_pylist() == ["words_filter:too_short"]
    assert guide_namespace["removed"].column("text").to_pylist() == ["one"]
