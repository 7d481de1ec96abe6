"""The quality classifier trained straight into a folder on an object store (the real S3 server),
and the filter loading it by URL. (fastText's training is not byte-reproducible from run to run,
so the remote model is compared with a local copy of itself, not with a local training.)"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from operators.classifier.quality_filter import QualityClassifierFilter
from operators.classifier.training import QualityConfig, train_quality_classifier
from storage.location import Location
from tests.conftest import shared_path


def test_train_quality_classifier_into_s3(places, tmp_path) -> None:
    table = pq.read_table(shared_path("corpus_en/part-00000.parquet"), columns=["text", "source"])
    sources = table.column("source").to_pylist()
    texts = table.column("text").to_pylist()
    good = [t for t, s in zip(texts, sources) if s == "reuters21578"][:200]
    bad = [t for t, s in zip(texts, sources) if s == "imdb"][:200]
    config = QualityConfig(max_chars=5000, dim=16)
    folder = Location(places[3] / "quality")  # an object-store folder with its connection settings
    remote = train_quality_classifier(good, bad, folder, config)
    assert remote.path == f"{folder}/model.bin" and remote.validation_accuracy >= 0.7
    assert (folder / "quality.json").read_json()["positives"] == 200  # reuters news vs imdb reviews
    (tmp_path / "copy").mkdir()
    (tmp_path / "copy" / "model.bin").write_bytes((folder / "model.bin").read_bytes())
    probe = pa.table({"text": good[:20] + bad[:20]})
    by_url = QualityClassifierFilter(model=str(folder)).compute_stats(probe).column("quality_score")
    by_path = QualityClassifierFilter(model=str(tmp_path / "copy")).compute_stats(probe).column("quality_score")
    scores = by_url.to_pylist()
    assert by_url.equals(by_path) and sum(scores[:20]) > sum(scores[20:])
