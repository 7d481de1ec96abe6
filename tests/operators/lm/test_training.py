"""Training a perplexity model: the train-lm command, the lmplz backend and KenLM's binary
format against the own estimator, train_lm on reference files in a recipe."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from operators.lm.arpa import read_arpa
from operators.lm.kenlm_tools import find_tool
from operators.lm.scoring import PerplexityModel
from operators.lm.training import LMConfig, train_language_model
from pipeline.cli import main
from tests.operators.lm.test_estimator import lmplz  # noqa: F401  (fixture)

NEWS = [
    "The central bank raised its key interest rate by a quarter point on Tuesday.",
    "Shares of the company fell 3% after it reported lower quarterly profits.",
    "The government said inflation slowed to 2.1% in March, the lowest in two years.",
    "Oil prices rose on Monday as traders weighed supply cuts by major producers.",
    "The central bank said it would keep buying bonds until the economy recovers.",
    "Profits at the bank rose in the third quarter, beating analysts' forecasts.",
]


def news_docs(n: int) -> list[str]:
    # varied enough for real discounts: sentences recombined deterministically
    return ["\n".join(NEWS[(i + k * 7) % len(NEWS)] for k in range(1 + i % 4)) + f" Item {i}." for i in range(n)]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_train_lm_command(tmp_path, capsys):
    rows = [{"id": f"n{i}", "text": t, "source": "news"} for i, t in enumerate(news_docs(120))]
    rows += [{"id": f"c{i}", "text": f"lol ok {i} c u l8r", "source": "chat"} for i in range(50)]
    data = write_jsonl(tmp_path / "docs.jsonl", rows)
    out = tmp_path / "model"
    assert main(["train-lm", str(data), "--where", "source=news", "--out", str(out), "--order", "3",
                 "--vocab-size", "300"]) == 0
    report = json.loads((out / "model.json").read_text())
    # 10% of the 120 reference documents held out for the cutoffs, never trained on
    assert report["documents"] == 108 and report["held_out_documents"] == 12
    assert report["order"] == 3 and report["tokens"] > 1000
    cutoffs = json.loads((out / "cutoffs.json").read_text())
    assert set(cutoffs["percentiles"]) == {"30", "60"}
    assert cutoffs["source"] == "held-out reference documents" and cutoffs["documents"] == 12
    assert cutoffs["trained_on"] is False and cutoffs["reference_documents"] == 120
    assert "only 12 held-out reference documents" in cutoffs["warning"]  # few: said in the metadata...
    printed = capsys.readouterr().out
    assert "12 more held out" in printed and "warning: perplexity cutoffs from only 12" in printed  # ...and shown
    model = PerplexityModel(out)
    news, chat = model.perplexity([NEWS[0], "lol ok c u l8r"])
    assert news < chat
    # no text is a clear error, not a traceback
    empty = write_jsonl(tmp_path / "empty.jsonl", [{"id": "e", "text": "   "}])
    assert main(["train-lm", str(empty), "--out", str(tmp_path / "none")]) == 1
    assert main(["train-lm", str(data), "--where", "nosuchcolumn=x", "--out", str(tmp_path / "none")]) == 1


def test_lmplz_backend_gives_the_same_model(tmp_path, lmplz):  # noqa: F811
    docs = news_docs(200)
    config = LMConfig(order=4, vocab_size=300, sp_sentences=2000)
    own = train_language_model(docs, tmp_path / "own", config)
    ref = train_language_model(docs, tmp_path / "lmplz", LMConfig(**{**config.__dict__, "estimator": "lmplz"}))
    assert own.estimator == "own" and ref.estimator == "lmplz" and own.tokens == ref.tokens
    assert (tmp_path / "own/sp.model").read_bytes() == (tmp_path / "lmplz/sp.model").read_bytes()
    a, b = read_arpa(tmp_path / "own/lm.arpa"), read_arpa(tmp_path / "lmplz/lm.arpa")
    for n in b:
        assert a[n].keys() == b[n].keys()
        assert max(max(abs(a[n][k][0] - v[0]), abs(a[n][k][1] - v[1])) for k, v in b[n].items()) < 1e-5


def test_binary_model_scores_like_arpa(tmp_path, lmplz):  # noqa: F811
    if find_tool("build_binary") is None:
        pytest.fail("build_binary missing beside lmplz; rerun .ci/build_lmplz.sh")
    docs = news_docs(150)
    train_language_model(docs, tmp_path / "m", LMConfig(order=3, vocab_size=300, binary=True))
    assert (tmp_path / "m/lm.binary").exists()
    binary = PerplexityModel(tmp_path / "m")
    assert binary.lm.path.endswith(b"lm.binary")
    (tmp_path / "m/lm.binary").unlink()
    arpa = PerplexityModel(tmp_path / "m")
    probe = docs[:20] + ["something else entirely"]
    assert np.allclose(binary.perplexity(probe), arpa.perplexity(probe), rtol=1e-6)


def test_train_lm_step_on_reference_files(tmp_path):
    from pipeline.recipe import validate_recipe
    from pipeline.runner import run_recipe

    reference = write_jsonl(tmp_path / "ref.jsonl",
                            [{"id": f"r{i}", "text": t, "kind": "news" if i % 3 else "other"}
                             for i, t in enumerate(news_docs(90))])
    corpus = write_jsonl(tmp_path / "corpus.jsonl",
                         [{"id": f"d{i}", "text": t} for i, t in enumerate(news_docs(30) + ["zz qq xx"] * 5)])
    recipe = validate_recipe({
        "input": {"path": str(corpus)},
        "output": {"path": str(tmp_path / "out"), "report": False},
        "steps": [{"train_lm": {"artifact": "lm", "reference": str(reference), "reference_where": {"kind": ["news"]},
                                "order": 3, "vocab_size": 300, "cutoff_documents": 20}},
                  {"perplexity_filter": {"model": "artifact:lm", "max_perplexity": 1e9}}],
    })
    result = run_recipe(recipe)
    report = json.loads((result.out / "artifacts/lm/model.json").read_text())
    # the reference rows of kind news, not the corpus: 54 trained on, 6 held out for the cutoffs
    assert report["documents"] + report["held_out_documents"] == 60 and report["held_out_documents"] == 6
    cutoffs = json.loads((result.out / "artifacts/lm/cutoffs.json").read_text())
    assert cutoffs["documents"] == 6 and cutoffs["source"] == "held-out reference documents"
    assert result.kept == 35


def test_train_lm_step_cutoffs_on_the_input_without_trained_documents(tmp_path):
    from pipeline.recipe import validate_recipe
    from pipeline.runner import run_recipe

    reference_texts = [t for i, t in enumerate(news_docs(90)) if i % 3]
    reference = write_jsonl(tmp_path / "ref.jsonl", [{"id": f"r{i}", "text": t} for i, t in enumerate(reference_texts)])
    # the corpus repeats 20 reference documents word for word: they must not set the cutoffs
    corpus_texts = news_docs(30) + [f"zz qq xx {i}" for i in range(5)]
    corpus = write_jsonl(tmp_path / "corpus.jsonl", [{"id": f"d{i}", "text": t} for i, t in enumerate(corpus_texts)])
    step = {"artifact": "lm", "reference": str(reference), "order": 3, "vocab_size": 300,
            "cutoff_sample": "input", "cutoff_documents": 35}
    recipe = validate_recipe({"input": {"path": str(corpus)}, "output": {"path": str(tmp_path / "out"), "report": False},
                              "steps": [{"train_lm": step}]})
    result = run_recipe(recipe)
    cutoffs = json.loads((result.out / "artifacts/lm/cutoffs.json").read_text())
    assert cutoffs["source"] == "cutoff sample"
    assert cutoffs["excluded_trained"] == sum(t in set(reference_texts) for t in corpus_texts) == 20
    assert cutoffs["documents"] == 15
    assert cutoffs["trained_on"] is False
    # without a reference, `input` means the training documents themselves, on purpose: marked so
    del step["reference"], step["cutoff_sample"]  # auto: without a reference, the input
    recipe = validate_recipe({"input": {"path": str(corpus)}, "output": {"path": str(tmp_path / "o2"), "report": False},
                              "steps": [{"train_lm": step}]})
    cutoffs = json.loads((run_recipe(recipe).out / "artifacts/lm/cutoffs.json").read_text())
    assert cutoffs["source"] == "training documents" and cutoffs["trained_on"] is True
    assert cutoffs["documents"] == 35 and "do not reuse them elsewhere" in cutoffs["warning"]


def test_held_out_part_is_chosen_by_text_hash():
    from operators.lm.cutoffs import HeldOut

    docs = [f"document number {i}" for i in range(1000)] + ["a duplicated text"] * 3

    def split(texts: list[str], **kw) -> tuple[list[str], list[str]]:
        held = HeldOut(0.1, kw.get("limit", 10_000), kw.get("seed", 0))
        trained = list(held.split(texts))
        return trained, held.texts

    trained, held = split(docs)
    assert len(held) in (100, 102) and sorted(trained + held) == sorted(docs)  # nothing lost, nothing doubled
    assert not set(held) & set(trained)  # duplicates stay on one side
    # the same documents whatever the order; another seed, others
    trained_r, held_r = split(docs[::-1])
    assert sorted(held_r) == sorted(held)
    assert sorted(split(docs, seed=1)[1]) != sorted(held)
    # at most `limit` held out, the smallest hashes: the same as with no limit, cut
    trained, held = split(docs[:1000], limit=30)
    assert len(held) == 30 and sorted(trained) == sorted(set(docs[:1000]) - set(held))
    assert set(held) < set(split(docs[:1000])[1])
    assert split(["one"])[1] == [] and len(split(["one", "two"])[1]) == 1


def test_small_cutoff_sample_warns(tmp_path):
    from operators.lm.cutoffs import SmallCutoffSampleWarning

    with pytest.warns(SmallCutoffSampleWarning, match="only 15 held-out reference documents"):
        report = train_language_model(news_docs(150), tmp_path / "m", LMConfig(order=3, vocab_size=300))
    assert report.cutoff_warning and report.cutoff_documents == 15


SECRET = "zebraquokkapassphrase"  # letters only: CCNet normalization leaves it as it is


def files_holding(folder: Path, needle: str) -> list[str]:
    return [str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]


def test_train_lm_leaves_no_training_text_on_disk(tmp_path, monkeypatch):
    """The normalized text and token spool live in a private work folder that is deleted when
    training ends, after success and after failure; nothing under the output holds the text."""
    from operators.lm.kenlm_tools import ToolError
    from pipeline.recipe import validate_recipe
    from pipeline.runner import run_recipe

    texts = news_docs(80) + [f"My password is {SECRET} and nobody knows it."]
    reference = write_jsonl(tmp_path / "ref.jsonl", [{"id": f"r{i}", "text": t} for i, t in enumerate(texts)])
    corpus = write_jsonl(tmp_path / "corpus.jsonl", [{"id": f"d{i}", "text": t} for i, t in enumerate(news_docs(20))])

    def run(out: Path, **step) -> None:
        recipe = validate_recipe({
            "input": {"path": str(corpus)}, "output": {"path": str(out), "report": False},
            "steps": [{"train_lm": {"artifact": "lm", "reference": str(reference), "order": 3, "vocab_size": 300,
                                    **step}}]})
        run_recipe(recipe)

    run(tmp_path / "out")
    assert (tmp_path / "out/artifacts/lm/lm.arpa").exists()
    assert files_holding(tmp_path / "out", SECRET) == []
    assert not [p for p in (tmp_path / "out").rglob("*") if "train-lm-" in p.name or p.name == "normalized.txt"]

    # training that fails after normalizing (lmplz asked for, not installed) leaves nothing either
    monkeypatch.setenv("PATH", str(tmp_path / "nobin"))
    monkeypatch.setenv("PIPELINE_LMPLZ_CACHE", str(tmp_path / "nocache"))
    with pytest.raises(Exception, match="lmplz not found"):
        run(tmp_path / "failed", estimator="lmplz")
    assert files_holding(tmp_path / "failed", SECRET) == []
    # the library function as well, with a work folder given
    with pytest.raises(ToolError):
        train_language_model(texts, tmp_path / "m", LMConfig(order=3, vocab_size=300, estimator="lmplz"),
                             workdir=tmp_path / "work")
    assert list((tmp_path / "work").iterdir()) == []
