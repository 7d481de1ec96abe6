"""Recipe loading and validation: every problem reported at once, each with its YAML path."""

from __future__ import annotations

import pytest

from pipeline.recipe import RecipeError, apply_overrides, load_recipe
from tests.core_helpers import recipe_dict, write_parquet_shards, write_recipe


@pytest.fixture
def data_dir(tmp_path):
    write_parquet_shards(tmp_path / "in", 2, 20)
    return tmp_path / "in"


def problems_of(tmp_path, data) -> list[str]:
    path = write_recipe(tmp_path / "r.yaml", data)
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    return info.value.problems


def test_valid_recipe_loads(tmp_path, data_dir):
    recipe = load_recipe(write_recipe(tmp_path / "r.yaml", recipe_dict(f"{data_dir}/*.parquet", str(tmp_path / "o"))))
    assert [name for name, _ in recipe.step_specs()] == ["normalize_text", "words_filter", "exact_dedup", "text_length_filter"]
    assert recipe.executor.workers == 1


def test_every_problem_reported_with_yaml_path(tmp_path, data_dir):
    data = recipe_dict(f"{data_dir}/*.parquet", str(tmp_path / "o"), steps=[
        {"normalize_text": {}},
        {"words_filtr": {"min_words": 5}},
        {"words_filter": {"min_words": -1}},
        {"words_filter": {"min_wrds": 3}},
        {"text_length_filter": {"max_chars": "many"}},
    ])
    data["executor"]["workers"] = 0
    problems = problems_of(tmp_path, data)
    joined = "\n".join(problems)
    assert "steps[1]: unknown operator 'words_filtr'; did you mean words_filter" in joined
    assert "steps[2].words_filter.min_words: must be >= 0" in problems
    assert any(p.startswith("steps[3].words_filter.min_wrds: unknown parameter (did you mean min_words") for p in problems)
    assert any(p.startswith("steps[4].text_length_filter.max_chars:") for p in problems)
    assert "executor.workers: must be >= 1" in problems
    assert len(problems) == 5


def test_missing_input_and_unknown_section(tmp_path):
    data = recipe_dict(str(tmp_path / "nothing" / "*.parquet"), str(tmp_path / "o"))
    data["extra"] = {"a": 1}
    problems = problems_of(tmp_path, data)
    assert any(p.startswith("extra:") for p in problems)
    data.pop("extra")
    problems = problems_of(tmp_path, data)
    assert problems == [f"input.path: no .parquet/.jsonl(.gz/.zst) files match {tmp_path}/nothing/*.parquet"]


def test_bad_step_shapes(tmp_path, data_dir):
    data = recipe_dict(f"{data_dir}/*.parquet", str(tmp_path / "o"), steps=[
        {"words_filter": {"min_words": 1}, "exact_dedup": {}},
        {"words_filter": [1, 2]},
        "exact_dedup",
    ])
    problems = problems_of(tmp_path, data)
    assert problems[0].startswith("steps[0]: must be a mapping with one operator name")
    assert problems[1] == "steps[1].words_filter: parameters must be a mapping, got list"
    assert len(problems) == 2  # a bare name is accepted as {name: {}}


def test_cross_field_check(tmp_path, data_dir):
    data = recipe_dict(f"{data_dir}/*.parquet", str(tmp_path / "o"),
                       steps=[{"words_filter": {"min_words": 10, "max_words": 5}}])
    problems = problems_of(tmp_path, data)
    assert len(problems) == 1 and problems[0].startswith("steps[0].words_filter") and "min_words must be <= max_words" in problems[0]


def test_yaml_errors_and_safe_loading(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("input: [unclosed\n")
    with pytest.raises(RecipeError, match="not valid YAML"):
        load_recipe(bad)
    unsafe = tmp_path / "unsafe.yaml"
    unsafe.write_text("input: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(RecipeError, match="not valid YAML"):
        load_recipe(unsafe)
    with pytest.raises(RecipeError, match="recipe file not found"):
        load_recipe(tmp_path / "missing.yaml")


def test_overrides(tmp_path, data_dir):
    path = write_recipe(tmp_path / "r.yaml", recipe_dict(f"{data_dir}/*.parquet", str(tmp_path / "o")))
    recipe = load_recipe(path, ["executor.workers=2", "steps.1.words_filter.min_words=3", "output.rejected=false"])
    assert recipe.executor.workers == 2
    assert recipe.step_specs()[1] == ("words_filter", {"min_words": 3})
    assert recipe.output.rejected is False
    with pytest.raises(RecipeError) as info:
        load_recipe(path, ["steps.1.words_filter.min_words=-4"])
    assert info.value.problems == ["steps[1].words_filter.min_words: must be >= 0"]
    with pytest.raises(RecipeError, match="expected KEY=VALUE"):
        apply_overrides({}, ["executor.workers"])


def test_custom_operator_by_module_path(tmp_path, data_dir):
    data = recipe_dict(f"{data_dir}/*.parquet", str(tmp_path / "o"),
                       steps=[{"tests.custom_ops:UppercaseText": {}}, {"tests.custom_ops:Nope": {}}])
    problems = problems_of(tmp_path, data)
    assert problems == ["steps[1]: unknown operator 'tests.custom_ops:Nope'"]

