"""`pipeline convert-dj`: Data-Juicer operator and parameter names mapped to ours, refusals
with one message per step, the 20 converted recipes in configs/dj/ valid, and three of them run
end to end on corpus_en rows."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from operators.lm.training import LMConfig, train_language_model
from pipeline.cli import main
from pipeline.commands.convert_dj import convert, is_dj_recipe
from pipeline.recipe import validate_recipe
from pipeline.runner import run_recipe
from tests.conftest import ROOT, shared_path

DJ_DIR = ROOT / "configs" / "dj"
MAPPERS = ["clean_email_mapper", "clean_links_mapper", "fix_unicode_mapper", "punctuation_normalization_mapper",
           "whitespace_normalization_mapper"]
SIMHASH = {"document_simhash_deduplicator": {"tokenization": "space", "window_size": 6, "lowercase": True,
                                             "ignore_pattern": "\\p{P}", "num_blocks": 6, "hamming_distance": 4}}

# A Data-Juicer recipe written in its format here, with the operators and thresholds of
# modelscope/data-juicer configs/data_juicer_recipes/redpajama-cc-2023-06-refine.yaml @ba4319a.
CC_2023_06 = {
    "project_name": "cc-2023-06", "dataset_path": "/path/to/your/dataset", "np": 50, "open_tracer": True,
    "process": [SIMHASH, *MAPPERS,
                {"alphanumeric_filter": {"tokenization": False, "min_ratio": 0.7508, "max_ratio": 0.8591}},
                {"average_line_length_filter": {"max_len": 1500}},
                {"character_repetition_filter": {"rep_len": 10, "max_ratio": 0.3}},
                {"flagged_words_filter": {"lang": "en", "tokenization": True, "max_ratio": 0.0015}},
                {"language_id_score_filter": {"min_score": 0.793}},
                {"maximum_line_length_filter": {"max_len": 5000}},
                {"perplexity_filter": {"lang": "en", "max_ppl": 5000}},
                {"special_characters_filter": {"min_ratio": 0.15, "max_ratio": 0.35}},
                {"text_length_filter": {"max_len": 58187}},
                {"words_num_filter": {"lang": "en", "tokenization": True, "min_num": 20, "max_num": 11529}},
                {"word_repetition_filter": {"lang": "en", "tokenization": True, "rep_len": 10, "max_ratio": 0.2962}}],
}


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory) -> Path:
    shard = shared_path("corpus_en/part-00000.parquet")
    rows = pq.read_table(shard, columns=["text", "source"]).to_pylist()
    texts = [r["text"] for r in rows if r["source"] in ("bbc_news", "wikitext2")]
    folder = tmp_path_factory.mktemp("lm") / "en"
    train_language_model(texts, folder, LMConfig(vocab_size=2000, sp_sentences=5000, order=3))
    return folder


def converted_steps(path: Path) -> list[dict]:
    return yaml.safe_load(path.read_text())["steps"]


def test_converter_output_is_the_shipped_recipe():
    conv = convert(CC_2023_06, lm="models/lm/en")
    assert conv.problems == []
    steps = [{s.name: s.params} for s in conv.steps]
    assert steps == converted_steps(DJ_DIR / "redpajama-cc-2023-06-refine.yaml")
    by_name = {}
    for s in conv.steps:
        by_name.setdefault(s.name, []).append(s.params)
    assert by_name["simhash_dedup"] == [{"ngram": 6, "blocks": 6, "distance": 4, "lowercase": True,
                                         "strip_punctuation": True}]
    assert by_name["words_filter"] == [{"min_words": 20, "max_words": 11529}]
    assert by_name["line_length_filter"] == [
        {"min_avg_length": 10.0, "max_avg_length": 1500.0, "min_max_length": None, "max_max_length": None},
        {"min_avg_length": None, "max_avg_length": None, "min_max_length": 10.0, "max_max_length": 5000.0}]
    assert by_name["perplexity_filter"] == [{"model": "models/lm/en", "max_perplexity": 5000.0, "unit": "document"}]
    assert by_name["text_length_filter"] == [{"min_chars": 10, "max_chars": 58187}]  # Data-Juicer's default min 10
    assert all(s.comments for s in conv.steps)
    assert any("np: 50" in n for n in conv.notes)


def test_defaults_and_number_strings_follow_data_juicer():
    conv = convert({"process": [{"text_length_filter": None}, {"words_num_filter": {"max_num": "1e5"}},
                                {"alphanumeric_filter": {}}, {"language_id_score_filter": {"lang": "en"}},
                                {"document_simhash_deduplicator": {"ignore_pattern": "\\n\\n", "window_size": 3,
                                                                   "num_blocks": 9, "hamming_distance": 7}}]})
    assert [(s.name, s.params) for s in conv.steps] == [
        ("text_length_filter", {"min_chars": 10, "max_chars": None}),
        ("words_filter", {"min_words": 10, "max_words": 100000}),
        ("alphanumeric_filter", {"min_ratio": 0.25, "max_ratio": None}),
        ("language_filter", {"languages": ["en"], "min_score": 0.8}),
        ("simhash_dedup", {"ngram": 3, "blocks": 9, "distance": 7, "lowercase": True, "strip_punctuation": False}),
    ]
    assert any("paragraph breaks" in c for c in conv.steps[-1].comments)
    chars = convert({"process": [{"document_simhash_deduplicator": {"tokenization": "character",
                                                                    "ignore_pattern": "\\p{P}"}}]})
    assert [s.params for s in chars.steps] == [{"shingle": "char", "ngram": 6, "blocks": 6, "distance": 4,
                                                "lowercase": True, "strip_punctuation": True}]


def test_one_clear_message_per_unmappable_step(tmp_path, capsys):
    dj = {"process": [*MAPPERS, {"perplexity_filter": {"max_ppl": 3000}},
                      {"alphanumeric_filter": {"tokenization": True, "min_ratio": 1.5}},
                      {"image_aspect_ratio_filter": {"min_ratio": 0.5}},
                      {"clean_links_mapper": {"pattern": "http\\S+"}},
                      {"document_simhash_deduplicator": {"tokenization": "punctuation"}},
                      {"words_num_filter": {"min_num": 5, "bogus": 1}}]}
    conv = convert(dj)
    assert [p.split(":")[0] for p in conv.problems] == [
        "process[5] perplexity_filter", "process[6] alphanumeric_filter", "process[7] image_aspect_ratio_filter",
        "process[8] clean_links_mapper", "process[9] document_simhash_deduplicator", "process[10] words_num_filter"]
    assert "--lm" in conv.problems[0] and "tokenizer" in conv.problems[1] and "bogus" in conv.problems[5]
    path = tmp_path / "dj.yaml"
    path.write_text(yaml.safe_dump(dj))
    assert main(["convert-dj", str(path), "--out", str(tmp_path / "ours.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.count("process[") == 6 and not (tmp_path / "ours.yaml").exists()
    assert main(["convert-dj", str(path), "--out", str(tmp_path / "ours.yaml"), "--drop-unmappable"]) == 0
    text = (tmp_path / "ours.yaml").read_text()
    assert text.count("Not converted") == 6
    assert [next(iter(s)) for s in yaml.safe_load(text)["steps"]] == [
        "remove_emails", "remove_links", "fix_unicode", "normalize_punctuation", "normalize_text"]
    assert main(["convert-dj", str(path), "--lm", str(tmp_path / "missing")]) == 1
    assert "perplexity model folder not found" in capsys.readouterr().err
    # `pipeline run` / `validate` on a Data-Juicer recipe: one clear notice, not schema errors
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Data-Juicer recipe" in err and "pipeline convert-dj" in err and "extra" not in err.lower()


def test_lm_folder_is_checked_and_used(tmp_path, tiny_lm, capsys):
    path = tmp_path / "dj.yaml"
    path.write_text(yaml.safe_dump(CC_2023_06))
    out = tmp_path / "ours.yaml"
    corpus = str(shared_path("corpus_en")) + "/part-0000[0-1].parquet"
    assert main(["convert-dj", str(path), "--lm", str(tiny_lm), "--input", corpus, "--out", str(out)]) == 0
    recipe = yaml.safe_load(out.read_text())
    assert {"perplexity_filter": {"model": str(tiny_lm), "max_perplexity": 5000.0, "unit": "document"}} in recipe["steps"]
    assert main(["validate", str(out)]) == 0
    assert main(["convert-dj", str(out)]) == 2  # already ours: says so
    assert "not a Data-Juicer recipe" in capsys.readouterr().err


def test_the_twenty_shipped_recipes_validate_and_name_their_source():
    files = sorted(DJ_DIR.glob("*.yaml"))
    assert len(files) == 20
    corpus = str(shared_path("corpus_en")) + "/part-*.parquet"
    for f in files:
        text = f.read_text()
        assert "modelscope/data-juicer configs/data_juicer_recipes/" in text.splitlines()[0]
        assert f.stem + ".yaml" in text.splitlines()[0]
        data = yaml.safe_load(text)
        assert not is_dj_recipe(data)
        data["input"]["path"] = corpus
        recipe = validate_recipe(data, source=str(f))
        names = [n for n, _ in recipe.step_specs()]
        assert "simhash_dedup" in names
        if "perplexity_filter" in names:
            assert dict(recipe.step_specs())["perplexity_filter"]["model"] == "models/lm/en"


def run_subset(recipe_file: Path, rows: Path, out: Path, lm: Path) -> dict:
    data = yaml.safe_load(recipe_file.read_text())
    data["input"]["path"] = str(rows)
    data["output"].update({"path": str(out), "report": False})
    data["executor"]["workers"] = 1  # one process: no start-up cost of a second one on 1,000 rows
    for step in data["steps"]:
        if "perplexity_filter" in step:
            step["perplexity_filter"]["model"] = str(lm)
    return run_recipe(validate_recipe(data)).stats


@pytest.mark.parametrize("name", ["redpajama-cc-2023-06-refine", "pile-pubmed-abstract-refine", "redpajama-code-refine"])
def test_converted_recipe_runs_end_to_end(name, tmp_path, tiny_lm):
    source = shared_path("corpus_en/part-00002.parquet")
    rows = tmp_path / "rows"
    rows.mkdir()
    table = pq.read_table(source).slice(0, 1000)
    pq.write_table(table.slice(0, 500), rows / "a.parquet")
    pq.write_table(table.slice(500), rows / "b.parquet")
    stats = run_subset(DJ_DIR / f"{name}.yaml", rows, tmp_path / "out", tiny_lm)
    steps = stats["steps"]
    assert stats["input"]["documents"] == 1000
    assert stats["removed"] + stats["output"]["documents"] == 1000
    assert [s["operator"] for s in steps] == [next(iter(s)) for s in yaml.safe_load((DJ_DIR / f"{name}.yaml").read_text())["steps"]]
    assert 0 < stats["output"]["documents"] < 1000
    metrics = {k: v for s in steps for k, v in s["metrics"].items()}
    assert metrics["remove_emails:emails"] > 0  # 20newsgroups headers hold addresses
    assert "normalize_text:documents_changed" in metrics
    removed = {s["operator"]: s["documents_removed"] for s in steps}
    assert removed["alphanumeric_filter"] > 0  # every one of the three sets alphanumeric bounds
