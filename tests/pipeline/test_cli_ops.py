"""`pipeline ops`: every operator's help shows its whole docstring and parameter descriptions,
brackets included (they are text, not rich markup)."""

from __future__ import annotations

import pytest

from operators import registry
from pipeline import cli


def squash(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def wide(monkeypatch):
    monkeypatch.setattr(cli.out, "width", 2000)  # no wrapping: the text can be compared as it is


def test_every_operator_help_shows_its_docstring_and_parameters(wide, capsys):
    names = registry.names()
    assert len(names) > 20
    for name in names:
        info = registry.describe(registry.get(name))
        assert cli.main(["ops", name]) == 0
        shown = squash(capsys.readouterr().out)
        assert squash(info["doc"]) in shown, name
        for p in info["params"]:
            assert squash(p["description"]) in shown, f"{name}.{p['name']}"


def test_brackets_survive_in_help_and_summary(wide, capsys):
    assert cli.main(["ops", "perplexity_filter"]) == 0
    assert "(e.g. [head, middle])" in capsys.readouterr().out
    assert cli.main(["ops"]) == 0
    listing = squash(capsys.readouterr().out)
    for name in registry.names():
        assert squash(registry.describe(registry.get(name))["summary"]) in listing, name


def test_help_lists_every_reason_an_operator_gives(wide, capsys):
    assert cli.main(["ops", "gopher_quality_filter"]) == 0
    shown = capsys.readouterr().out
    assert "gopher_quality:too_few_words" in shown and "gopher_quality:too_many_words" in shown
    assert cli.main(["ops", "exact_dedup"]) == 0
    assert "reasons: exact_dedup:duplicate, exact_dedup:in_index" in capsys.readouterr().out
    assert cli.main(["ops", "normalize_text"]) == 0
    assert "reasons: none (removes no document)" in capsys.readouterr().out
