"""The run report: numbers equal stats.json, statistics drawn with thresholds, no personal data,
renders offline in headless Chromium."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from pipeline.cli import main
from pipeline.recipe import validate_recipe
from pipeline.report import write_report
from pipeline.report.budget import budget_for_tokens
from pipeline.report.html import fmt_si
from pipeline.runner import run_recipe
from tests.pipeline.report.test_browser import open_in_chromium
from tests.pipeline.report.test_fixtures import PLANTED, funnel_rows, png_colours, recipe_dict, write_corpus


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    corpus = write_corpus(root / "in")
    recipe = validate_recipe(recipe_dict(f"{corpus}/part-*", str(root / "out"), workers=1))
    result = run_recipe(recipe)
    path = write_report(result.out)
    return result, path, path.read_text(encoding="utf-8")


def test_funnel_numbers_equal_stats_json(finished_run):
    result, _, html = finished_run
    stats = result.stats
    rows = funnel_rows(html)
    assert rows["input"]["documents-in"] == stats["input"]["documents"]
    assert rows["input"]["removed"] == sum(stats["input"]["quarantined"].values()) == 1
    for t in stats["steps"]:
        row = rows[str(t["index"])]
        assert (row["documents-in"], row["documents-out"], row["removed"], row["chars-out"]) == (
            t["documents_in"], t["documents_out"], t["documents_removed"], t["chars_out"])
    assert rows["output"]["documents-out"] == stats["output"]["documents"]
    assert rows["output"]["removed"] == stats["removed"]
    # every removal reason is listed with its count
    for t in stats["steps"]:
        for reason, n in t["removed"].items():
            assert re.search(rf"<td>{re.escape(reason)}</td><td class=\"num\">{n:,}</td>", html), reason


def test_statistic_histograms_with_thresholds(finished_run):
    _, _, html = finished_run
    for column in ("char_count", "word_count", "lang_score", "token_count", "pii_count_EMAIL_ADDRESS"):
        assert f'id="stat-{column}"' in html, column
    assert 'id="stat-year"' not in html  # an input column, not a statistic
    panel = html[html.index('id="stat-lang_score"'):]
    panel = panel[:panel.index('<div class="stat"') if '<div class="stat"' in panel else len(panel)]
    assert "min kept 0.8" in panel and "removed by step 4" in panel
    assert "Languages" in html and "<td>fr</td>" in html
    assert 'id="pii"' in html and "EMAIL_ADDRESS" in html


def test_no_planted_personal_data_in_the_report(finished_run):
    result, _, html = finished_run
    out = result.out
    rejected_text = " ".join(
        " ".join(pq.read_table(p, columns=["text", "id"]).column(c).to_pylist()[i] or "" for c in ("text", "id")
                 for i in range(pq.read_metadata(p).num_rows))
        for p in (out / "rejected").rglob("*.parquet"))
    quarantined = " ".join(str(v) for p in (out / "quarantine").glob("*.parquet") for v in pq.read_table(p).column("raw").to_pylist())
    for key, value in PLANTED.items():
        # the test means something only if the value was removed and so is a candidate example
        assert value in rejected_text or (key.startswith("quarantine") and value in quarantined), key
        assert value not in html, key
    # nothing half-shown at the truncation point, and the examples are there, scrubbed
    assert "joe.bound" not in html and "jane.planted" not in html and "7946" not in html
    assert "&lt;EMAIL&gt;" in html and "&lt;PHONE_NUMBER&gt;" in html and "&lt;CREDIT_CARD&gt;" in html
    assert "exact_dedup:duplicate" in html and "words_filter:too_short" in html


def test_token_budget_from_kept_tokens(finished_run):
    result, _, html = finished_run
    kept = sum(int(pc.sum(pq.read_table(result.out / f, columns=["token_count"]).column(0)).as_py())
               for s in result.stats["output"]["shards"] for f in s["files"])
    budget = budget_for_tokens(kept)
    section = html[html.index('id="budget"'):]
    assert fmt_si(kept) in section and fmt_si(budget.params) in section and f"{budget.loss:.3f}" in section
    assert "6 N D" in section and "E = 1.69" in section


def test_renders_offline_in_headless_chromium(finished_run, tmp_path):
    _, path, html = finished_run
    shot = open_in_chromium(path, tmp_path / "report.png")
    assert shot.console_errors == []
    assert shot.external_requests == []
    assert shot.title == "Pipeline run report"
    assert shot.svg_count == html.count("<svg") >= 8
    assert shot.svg_min_width > 200  # every plot laid out at a readable size
    assert png_colours(shot.screenshot) > 50  # a real page, not a blank one


def test_cli_report_and_run_writes_it(tmp_path, finished_run, capsys):
    result, _, _ = finished_run
    target = tmp_path / "again.html"
    assert main(["report", str(result.out), "--out", str(target)]) == 0
    assert target.is_file() and "report:" in capsys.readouterr().out
    assert main(["report", str(tmp_path)]) == 1
    assert "no stats.json" in capsys.readouterr().err

    from tests.pipeline.report.test_fixtures import write_recipe

    corpus = write_corpus(tmp_path / "in", shards=1, per_shard=40)
    data = recipe_dict(f"{corpus}/part-0.parquet", str(tmp_path / "run"), workers=1)
    data["steps"] = [{"words_filter": {"min_words": 20}}]
    recipe_path = write_recipe(tmp_path / "r.yaml", data)
    assert main(["run", str(recipe_path), "--quiet"]) == 0
    assert (tmp_path / "run" / "report.html").is_file()
    data["output"]["path"] = str(tmp_path / "run2")
    assert main(["run", str(write_recipe(tmp_path / "r2.yaml", data)), "--quiet", "--no-report"]) == 0
    assert not (tmp_path / "run2" / "report.html").exists()


def test_without_rejected_output_says_so(tmp_path):
    corpus = write_corpus(tmp_path / "in", shards=1, per_shard=60)
    data = recipe_dict(f"{corpus}/part-0.parquet", str(tmp_path / "out"), workers=1)
    data["output"]["rejected"] = False
    result = run_recipe(validate_recipe(data))
    html = write_report(result.out).read_text(encoding="utf-8")
    assert "Removed documents were not written" in html
    assert funnel_rows(html)["output"]["documents-out"] == result.stats["output"]["documents"]
    for value in PLANTED.values():
        assert value not in html


def test_sampled_histograms_keep_group_proportions(tmp_path):
    """Past the row cap, every group is sampled at one rate (counts stay exact)."""
    import pyarrow as pa

    from pipeline.report.columns import scan_columns

    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    pq.write_table(pa.table({"x": np.arange(30_000, dtype=np.int64)}), a)
    pq.write_table(pa.table({"x": np.arange(10_000, dtype=np.float64)}), b)
    scan = scan_columns([("kept", a), ("step1", b)], exclude=set(), cap=8_000, seed=1)
    assert scan.rate == pytest.approx(0.2)
    assert scan.counts["x"] == {"kept": 30_000, "step1": 10_000}
    assert scan.sums["x"]["kept"] == sum(range(30_000))
    ratio = scan.values["x"]["kept"].size / scan.values["x"]["step1"].size
    assert 2.6 < ratio < 3.4
    assert Path(a).exists()


def test_report_of_a_run_without_steps_or_removals(tmp_path):
    corpus = write_corpus(tmp_path / "in", shards=1, per_shard=30)
    data = recipe_dict(f"{corpus}/part-0.parquet", str(tmp_path / "out"), workers=1)
    data["steps"] = []
    result = run_recipe(validate_recipe(data))
    html = write_report(result.out).read_text(encoding="utf-8")
    rows = funnel_rows(html)
    assert rows["input"]["documents-in"] == rows["output"]["documents-out"] == result.stats["output"]["documents"]
    assert "The run added no numeric statistic columns." in html and "No documents were removed." in html
