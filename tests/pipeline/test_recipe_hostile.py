"""Hostile recipes and --set overrides (issue 12): refused fast with a clear message, no traceback."""

from __future__ import annotations

import pytest

from pipeline.recipe import RecipeError, apply_overrides, load_recipe
from tests.conftest import ROOT
from tests.core_helpers import recipe_dict, write_parquet_shards, write_recipe
from tests.pipeline.io.test_bad_input import cli


@pytest.fixture
def recipe_path(tmp_path):
    write_parquet_shards(tmp_path / "in", 1, 5)
    return write_recipe(tmp_path / "r.yaml", recipe_dict(f"{tmp_path}/in/*.parquet", str(tmp_path / "o")))


# ---- item 14: nesting and alias bombs ---------------------------------------------------------------


@pytest.mark.timeout(60)
def test_deeply_nested_recipe_is_refused(tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text("input: " + "[" * 50_000 + "]" * 50_000 + "\n")
    with pytest.raises(RecipeError, match=r"nested deeper than \d+"):
        load_recipe(path)


@pytest.mark.timeout(60)
def test_yaml_alias_bomb_is_refused(tmp_path, recipe_path):
    levels = ["x0: &a0 [" + ", ".join(["x"] * 9) + "]"]
    levels += [f"x{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    text = recipe_path.read_text().replace("- words_filter:\n", "- words_filter:\n" + "".join(
        f"    {line}\n" for line in levels), 1).replace("min_words: 10", "min_words: *a9")
    assert "min_words: *a9" in text
    recipe_path.write_text(text)
    with pytest.raises(RecipeError, match=r"more than [\d,]+ values once aliases are expanded"):
        load_recipe(recipe_path)


def test_recursive_alias_is_refused(tmp_path):
    path = tmp_path / "rec.yaml"
    path.write_text("input: &a [*a]\n")
    with pytest.raises(RecipeError, match="not valid YAML|recursive"):
        load_recipe(path)


def test_duplicate_keys_are_an_error_naming_key_and_line(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text("input:\n  path: a.parquet\n  path: b.parquet\noutput: {path: o}\n")
    with pytest.raises(RecipeError, match=r"duplicate key 'path' .*line 3"):
        load_recipe(path)
    merged = tmp_path / "merge.yaml"  # a key given explicitly next to a YAML merge is no duplicate
    merged.write_text("input: &b {path: a.parquet, batch_size: 5}\noutput: {<<: *b, path: o}\n")
    with pytest.raises(RecipeError) as info:
        load_recipe(merged)
    assert not [p for p in info.value.problems if "duplicate" in p]


# ---- item 15: --set overrides ----------------------------------------------------------------------


@pytest.mark.parametrize("override, message", [
    ("input.path.x=1", r"--set input\.path\.x=1: input\.path is a string, not a mapping"),
    ("steps.1.words_filter.min_words.x=1", r"steps\.1\.words_filter\.min_words is a number, not a mapping"),
    ("executor.workers=[1,2", r"--set executor\.workers=\[1,2: value is not valid YAML"),
    ("=5", r"--set =5: empty key"),
    ("input..path=5", r"--set input\.\.path=5: empty key"),
    ("steps.9.words_filter.min_words=1", r"no index 9 in list"),
])
def test_bad_overrides_are_clear_errors(recipe_path, override, message):
    with pytest.raises(RecipeError, match=message):
        load_recipe(recipe_path, [override])


def test_bad_override_through_the_cli_has_no_traceback(recipe_path):
    for override in ("input.path.x=1", "executor.workers=[1,2", "=5"):
        proc = cli("validate", str(recipe_path), "--set", override, cwd=ROOT)
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr and "--set" in proc.stdout + proc.stderr


def test_good_overrides_still_work(recipe_path):
    recipe = load_recipe(recipe_path, ["executor.workers=3", "input.path=[a.parquet, b.parquet]"], check_input=False)
    assert recipe.executor.workers == 3 and recipe.input.path == ["a.parquet", "b.parquet"]
    assert apply_overrides({"a": None}, ["a.b=1"]) == {"a": {"b": 1}}
