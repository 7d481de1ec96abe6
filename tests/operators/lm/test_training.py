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
from tests.test_lm_estimator import lmplz  # noqa: F401  (fixture)

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


def test_train_lm_command(tmp_path):
    rows = [{"id": f"n{i}", "text": t, "source": "news"} for i, t in enumerate(news_docs(120))]
    rows += [{"id": f"c{i}", "text": f"lol ok {i} c u l8r", "source": "chat"} for i in range(50)]
    data = write_jsonl(tmp_path / "docs.jsonl", rows)
    out = tmp_path / "model"
    assert main(["train-lm", str(data), "--where", "source=news", "--out", str(out), "--order", "3",
                 "--vocab-size", "300"]) == 0
    report = json.loads((out / "model.json").read_text())
    assert report["documents"] == 120 and report["order"] == 3 and report["tokens"] > 1000
    assert set(json.loads((out / "cutoffs.json").read_text())["percentiles"]) == {"30", "60"}
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
    assert report["documents"] == 60  # the reference rows of kind news, not the corpus
    cutoffs = json.loads((result.out / "artifacts/lm/cutoffs.json").read_text())
    assert cutoffs["documents"] == 20 and cutoffs["source"] == "cutoff sample"
    assert result.kept == 35
