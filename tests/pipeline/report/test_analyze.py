"""`pipeline analyze`: a seeded sample, statistics without removal, candidate thresholds counted
alone and after the earlier steps, the same numbers a run gives."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from operators.filters.length import WordsFilter
from operators.text.normalize import NormalizeText
from pipeline.cli import main
from pipeline.recipe import validate_recipe
from pipeline.report.analysis import analyze, sample_corpus
from pipeline.runner import run_recipe
from tests.pipeline.report.test_browser import open_in_chromium
from tests.pipeline.report.test_fixtures import funnel_rows, png_colours, recipe_dict, write_corpus, write_recipe


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("analyze") / "in")


def _recipe(corpus, out, **kw):
    return validate_recipe(recipe_dict(f"{corpus}/part-*", str(out), **kw))


def test_sample_is_seeded_and_independent_of_batch_size(corpus, tmp_path):
    a = sample_corpus(_recipe(corpus, tmp_path / "a", batch_size=7), 100, seed=0)
    b = sample_corpus(_recipe(corpus, tmp_path / "b", batch_size=1000), 100, seed=0)
    c = sample_corpus(_recipe(corpus, tmp_path / "c"), 100, seed=1)
    ids_a = a.table.column("id").to_pylist()
    assert ids_a == b.table.column("id").to_pylist()
    assert len(ids_a) == len(set(ids_a)) == 100
    assert set(ids_a) != set(c.table.column("id").to_pylist())
    all_ids = {i for p in corpus.glob("*.parquet") for i in pq.read_table(p, columns=["id"]).column(0).to_pylist()}
    assert a.corpus_documents == len(all_ids) + 20  # 3 Parquet shards + the JSONL one's 20 valid lines
    assert sum(a.quarantined.values()) == 1
    # drawn across the whole corpus, kept in corpus order
    shards = {i.split("-")[0] for i in ids_a if i.startswith("s")}
    assert {"s0", "s1", "s2", "s99"} <= shards
    keys = a.table.column("_doc_key").to_numpy()
    assert np.all(np.diff(keys) > 0)


def test_whole_corpus_sample_gives_the_run_counts(corpus, tmp_path):
    """With every document sampled, 'after earlier steps' is what the run removes per step."""
    recipe = _recipe(corpus, tmp_path / "out", workers=1)
    stats = run_recipe(recipe).stats
    analysis = analyze(recipe, 10_000, seed=3)
    assert analysis.n == stats["input"]["documents"] - 1  # all but the quarantined line
    for step, t in zip(analysis.steps, stats["steps"]):
        if step.evaluated:
            assert step.removed_after == t["documents_removed"], step.name
            assert dict(step.reasons_after) == t["removed"], step.name
            assert step.removed_alone >= step.removed_after
        else:
            assert step.name == "exact_dedup" and "global" in step.note
    assert int(analysis.alive.sum()) == stats["steps"][-2]["documents_out"]


def test_candidate_thresholds_counted_alone_and_after_earlier(corpus, tmp_path):
    analysis = analyze(_recipe(corpus, tmp_path / "x"), 300, seed=0)
    # the statistic the analysis computed is the operator's, on the sample after the recipe's mapper
    expected = WordsFilter().compute_stats(NormalizeText().process(analysis.sample.table))
    assert analysis.table.column("word_count").to_pylist() == expected.column("word_count").to_pylist()
    counts = analysis.table.column("word_count").to_numpy()
    step = next(s for s in analysis.steps if s.name == "words_filter")
    study = next(st for st in analysis.studies if st.column == "word_count")
    assert study.side == "min" and study.configured == 20
    values = [c.value for c in study.candidates]
    assert values == sorted(values) and 20 in values
    alone = [c.removed_alone for c in study.candidates]
    assert alone == sorted(alone)  # a higher minimum removes at least as much
    for c in study.candidates:
        assert c.removed_alone == int((counts < c.value).sum())
        assert c.removed_after == int(((counts < c.value) & step.alive_before).sum())
        assert c.removed_after <= c.removed_alone
    configured = next(c for c in study.candidates if c.origin == "configured")
    assert (configured.removed_alone, configured.removed_after) == (step.removed_alone, step.removed_after)
    lang = next(st for st in analysis.studies if st.column == "lang_score")
    assert [c.origin for c in lang.candidates].count("configured") == 1


def test_cli_prints_tables_and_writes_html_that_renders(corpus, tmp_path, capsys):
    recipe_path = write_recipe(tmp_path / "r.yaml", recipe_dict(f"{corpus}/part-*", str(tmp_path / "out")))
    html_path = tmp_path / "analysis.html"
    assert main(["analyze", str(recipe_path), "--sample", "120", "--seed", "5", "--out", str(html_path)]) == 0
    printed = capsys.readouterr().out
    assert "candidate thresholds" in printed and "word_count" in printed and "lang_score" in printed
    assert "step 6 (exact_dedup) not evaluated: global step" in printed
    html = html_path.read_text(encoding="utf-8")
    rows = funnel_rows(html)
    assert {"0", "3", "4", "5", "6"} <= set(rows) and "removed-alone" in rows["5"]
    assert 'id="stat-word_count"' in html and 'class="configured"' in html
    assert not (tmp_path / "out").exists()  # analysis writes nothing into the run's output folder
    shot = open_in_chromium(html_path, tmp_path / "analysis.png")
    assert shot.console_errors == [] and shot.external_requests == []
    assert shot.svg_count == html.count("<svg") >= 5
    assert png_colours(shot.screenshot) > 50


def test_bad_sample_size_is_a_clear_error(corpus, tmp_path, capsys):
    recipe_path = write_recipe(tmp_path / "r.yaml", recipe_dict(f"{corpus}/part-*", str(tmp_path / "out")))
    assert main(["analyze", str(recipe_path), "--sample", "0", "--no-html"]) == 1
    assert "sample size must be at least 1" in capsys.readouterr().err
