"""The quality recipes validate and run end to end; `pipeline ops` shows each threshold's source."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from operators import registry
from pipeline.recipe import load_recipe
from pipeline.runner import run_recipe
from tests.conftest import ROOT, shared_path

CONFIGS = ["fineweb_like.yaml", "c4_like.yaml", "multilingual.yaml"]

GOOD = "\n".join([
    "The committee met on Tuesday to discuss the budget for the coming year and its priorities.",
    "Several members argued that the library deserved more money after years of careful savings.",
    "Others pointed out that the roads in the northern district have needed repairs for a long time.",
    "After a long debate, they agreed to fund both projects with a modest increase in local taxes.",
    "The final vote will take place next month, once the public has had a chance to comment on it.",
    "Residents can send their views by post or attend the open meeting at the town hall in March.",
])
FRENCH = ("Le comité s'est réuni mardi pour discuter du budget de l'année prochaine et de ses priorités. "
          "Plusieurs membres ont soutenu que la bibliothèque méritait davantage de moyens cette année.")
REPETITIVE = "\n".join(["Buy cheap watches online today, free shipping on every order."] * 12)
SHORT = "Too short to keep, but it is English enough to pass the language check easily."
MENU = "\n".join(["Home", "About us", "Contact", "Products and services for every budget today.", "Login", "Cart"] * 3)


@pytest.mark.parametrize("name", CONFIGS)
def test_configs_validate(name):
    shared_path("corpus_en")
    recipe = load_recipe(ROOT / "configs" / name)
    assert recipe.input.path == "../shared/data/corpus_en/part-*.parquet"
    assert all(step is not None for step in recipe.build_steps())


def test_fineweb_like_runs_end_to_end(tmp_path: Path):
    docs = [GOOD, FRENCH, REPETITIVE, SHORT, MENU, ""]
    pq.write_table(pa.table({"id": [f"d{i}" for i in range(len(docs))], "text": docs}), tmp_path / "part-0.parquet")
    recipe = load_recipe(ROOT / "configs" / "fineweb_like.yaml", [
        f"input.path={tmp_path}/part-*.parquet", f"output.path={tmp_path}/out", "executor.workers=1",
        "output.report=false"])
    result = run_recipe(recipe, fresh=True)
    kept = pq.read_table(tmp_path / "out" / "part-0.parquet")
    assert kept.column("id").to_pylist() == ["d0"]
    assert kept.column("text").to_pylist() == [GOOD]  # every line of GOOD survives the C4 cleaner
    for column in ("lang", "lang_score", "gopher_word_count", "gopher_dup_5gram_char_frac", "c4_sentence_count",
                   "fineweb_line_punct_ratio"):
        assert column in kept.column_names
    reasons = {}
    for path in sorted((tmp_path / "out" / "rejected").glob("*/*.parquet")):
        rejected = pq.read_table(path, columns=["id", "reason"])
        reasons.update(zip(rejected.column("id").to_pylist(), rejected.column("reason").to_pylist()))
    assert reasons["d1"] == "language:not_wanted"
    assert reasons["d2"].startswith("gopher_repetition:")
    assert reasons["d3"] == "gopher_quality:too_few_words"
    assert reasons["d5"] == "language:no_text"
    assert reasons["d4"].split(":")[0] in {"gopher_repetition", "gopher_quality", "c4", "fineweb"}
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert result.kept == 1 and stats["output"]["documents"] == 1
    steps = stats["steps"]
    assert [s["operator"] for s in steps] == ["language_filter", "gopher_repetition_filter", "gopher_quality_filter",
                                             "c4_line_cleaner", "c4_quality_filter", "fineweb_quality_filter"]
    assert steps[0]["documents_in"] == 6 and sum(sum(s["removed"].values()) for s in steps) == 5


def test_ops_show_thresholds_and_sources():
    for name, needle in [("gopher_quality_filter", "Rae et al. 2021"), ("gopher_repetition_filter", "Table A1"),
                         ("c4_line_cleaner", "Raffel et al. 2020"), ("c4_quality_filter", "TFDS"),
                         ("fineweb_quality_filter", "2406.17557"), ("language_filter", "FineWeb"),
                         ("flagged_words_filter", "Data-Juicer"), ("stopwords_filter", "Data-Juicer"),
                         ("char_repetition_filter", "Data-Juicer")]:
        info = registry.describe(registry.get(name))
        assert needle in info["doc"], name
        assert all(p["description"] for p in info["params"]), name
