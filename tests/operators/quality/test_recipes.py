"""The quality recipes validate and run end to end; `pipeline ops` shows each threshold's source."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

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
    # every step of the file becomes its operator, in order, with the parameters written there
    written = yaml.safe_load((ROOT / "configs" / name).read_text())["steps"]
    ops = recipe.build_steps()
    assert [op.name for op in ops] == [next(iter(step)) for step in written]
    for op, step in zip(ops, written):
        dumped = op.model_dump()
        for key, value in (next(iter(step.values())) or {}).items():
            assert dumped[key] == value, f"{name}: {op.name}.{key}"


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


# Published thresholds (the source each docstring cites) and the operators' defaults must agree.
PUBLISHED = [
    ("gopher_quality_filter", "Rae et al. 2021", {
        "min_words": 50, "max_words": 100_000, "min_mean_word_length": 3, "max_mean_word_length": 10,
        "max_hash_ratio": 0.1, "max_ellipsis_ratio": 0.1, "max_bullet_lines_frac": 0.9,
        "max_ellipsis_lines_frac": 0.3, "min_alpha_words_frac": 0.8, "min_stop_words": 2,
        "stop_words": ["the", "be", "to", "of", "and", "that", "have", "with"]}),
    ("gopher_repetition_filter", "Table A1", {
        "max_dup_line_frac": 0.3, "max_dup_para_frac": 0.3, "max_dup_line_char_frac": 0.2,
        "max_dup_para_char_frac": 0.2, "max_top_2gram_char_frac": 0.2, "max_top_3gram_char_frac": 0.18,
        "max_top_4gram_char_frac": 0.16, "max_dup_5gram_char_frac": 0.15, "max_dup_6gram_char_frac": 0.14,
        "max_dup_7gram_char_frac": 0.13, "max_dup_8gram_char_frac": 0.12, "max_dup_9gram_char_frac": 0.11,
        "max_dup_10gram_char_frac": 0.1}),
    ("fineweb_quality_filter", "2406.17557", {"min_line_punct_ratio": 0.12, "max_short_line_frac": 0.67,
                                              "short_line_length": 30}),
    ("language_filter", "FineWeb", {"min_score": 0.65}),
    ("flagged_words_filter", "Data-Juicer", {"max_ratio": 0.045}),
    ("stopwords_filter", "Data-Juicer", {"min_ratio": 0.3}),
]


@pytest.mark.parametrize(("name", "source", "values"), PUBLISHED, ids=[p[0] for p in PUBLISHED])
def test_defaults_are_the_published_thresholds(name, source, values):
    info = registry.describe(registry.get(name))
    defaults = {p["name"]: p["default"] for p in info["params"]}
    assert {k: defaults[k] for k in values} == values
    assert source in info["doc"]  # and the docstring says where they come from
    assert all(p["description"] for p in info["params"])
