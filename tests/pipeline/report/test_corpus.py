"""On real text (../shared/data/corpus_en) with the FineWeb-like recipe: analyze draws a
sample, a run over that sample keeps what analyze predicts, and the run's report repeats
stats.json exactly and renders offline."""

from __future__ import annotations

from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from operators.base import DOC_KEY
from pipeline.recipe import load_recipe, validate_recipe
from pipeline.report import write_report
from pipeline.report.analysis import analyze
from pipeline.runner import run_recipe
from tests.conftest import ROOT, shared_path
from tests.pipeline.report.test_browser import open_in_chromium
from tests.pipeline.report.test_fixtures import funnel_rows

SAMPLE = 800


def test_fineweb_like_sample_report_matches_stats(tmp_path):
    corpus = shared_path("corpus_en")
    recipe = load_recipe(ROOT / "configs" / "fineweb_like.yaml",
                         [f"input.path={corpus}/part-0000[01].parquet", f"output.path={tmp_path / 'unused'}"])
    analysis = analyze(recipe, SAMPLE, seed=7)
    assert analysis.n == SAMPLE and analysis.sample.corpus_documents == 20_000
    sample_file = tmp_path / "sample.parquet"
    pq.write_table(analysis.sample.table.drop_columns([DOC_KEY]), sample_file)
    data = recipe.model_dump(mode="json")
    data["input"].update({"path": str(sample_file), "format": "parquet"})
    data["output"]["path"] = str(tmp_path / "out")
    data["executor"] = {"type": "local", "workers": 1}
    result = run_recipe(validate_recipe(data))
    stats = result.stats
    # analyze predicted the run, step by step
    for step, t in zip(analysis.steps, stats["steps"]):
        assert step.removed_after == t["documents_removed"], step.name
    path = write_report(result.out)
    html = Path(path).read_text(encoding="utf-8")
    rows = funnel_rows(html)
    for t in stats["steps"]:
        r = rows[str(t["index"])]
        assert (r["documents-in"], r["documents-out"], r["removed"], r["chars-out"]) == (
            t["documents_in"], t["documents_out"], t["documents_removed"], t["chars_out"])
    assert rows["output"]["documents-out"] == stats["output"]["documents"] < SAMPLE
    for column in ("lang_score", "gopher_mean_word_length", "fineweb_line_punct_ratio"):
        assert f'id="stat-{column}"' in html
    shot = open_in_chromium(path, tmp_path / "report.png")
    assert shot.console_errors == [] and shot.external_requests == []
    assert shot.svg_count == html.count("<svg")


def test_pii_clusters_and_token_budget_from_real_operators(tmp_path):
    """pii_scrubber, minhash_dedup (cluster columns) and token_count on real text: the report's
    PII table, cluster sizes and token budget come from their columns and metrics."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    from pipeline.report.budget import budget_for_tokens
    from pipeline.report.html import fmt_int, fmt_si

    corpus = shared_path("corpus_en")
    table = pq.read_table(corpus / "part-00003.parquet").slice(0, 400)  # 20newsgroups: e-mail headers
    source = tmp_path / "in.parquet"
    pq.write_table(table, source)
    tokenizer = Tokenizer(models.BPE(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.train_from_iterator(table.column("text").to_pylist(), trainers.BpeTrainer(vocab_size=600, special_tokens=["[UNK]"]))
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    data = {
        "input": {"path": str(source)},
        "output": {"path": str(tmp_path / "out")},
        "executor": {"type": "local", "workers": 1},
        "steps": [{"pii_scrubber": {}}, {"minhash_dedup": {"cluster_columns": True}},
                  {"token_count": {"tokenizer": str(tmp_path / "tokenizer.json")}}],
    }
    result = run_recipe(validate_recipe(data))
    html = write_report(result.out).read_text(encoding="utf-8")
    out = pq.read_table(result.out / "in.parquet")
    emails = int(pc.sum(out.column("pii_count_EMAIL_ADDRESS")).as_py())
    metric = result.stats["steps"][0]["metrics"]["pii:EMAIL_ADDRESS"]
    assert emails > 0
    section = html[html.index('id="pii"'):html.index("</section>", html.index('id="pii"'))]
    assert f"<td>EMAIL_ADDRESS</td><td class=\"num\">{fmt_int(metric)}</td>" in section
    assert 'id="clusters"' in html and "cluster size" in html
    tokens = int(pc.sum(out.column("token_count")).as_py())
    assert result.stats["steps"][2]["metrics"]["tokens"] == tokens
    budget = html[html.index('id="budget"'):]
    assert fmt_si(tokens) in budget and fmt_si(budget_for_tokens(tokens).params) in budget
    assert "extrapolations" in budget  # a few hundred documents are far below the fit's range
