"""The quality classifier trained straight into a folder on an object store (the real S3 server),
and the filter loading it by URL. (fastText's training is not byte-reproducible from run to run,
so the remote model is compared with a local copy of itself, not with a local training.)"""

from __future__ import annotations

import random

import pyarrow as pa

from operators.classifier.quality_filter import QualityClassifierFilter
from operators.classifier.training import QualityConfig, train_quality_classifier
from storage.location import Location
from tests.operators.stage_runner import WORDS, places, sentence  # noqa: F401


def test_train_quality_classifier_into_s3(places, tmp_path) -> None:  # noqa: F811
    rng = random.Random(2)
    good = [sentence(rng, 30) + " careful study evidence" for _ in range(200)]
    bad = [" ".join(rng.choice(WORDS[:6]) for _ in range(30)) + " click buy now" for _ in range(200)]
    config = QualityConfig(buckets=10_000)
    folder = Location(places[3] / "quality")  # an object-store folder with its connection settings
    remote = train_quality_classifier(good, bad, folder, config)
    assert remote.path == f"{folder}/model.bin" and remote.validation_accuracy == 1.0
    assert (folder / "quality.json").read_json()["positives"] == 200
    (tmp_path / "copy").mkdir()
    (tmp_path / "copy" / "model.bin").write_bytes((folder / "model.bin").read_bytes())
    probe = pa.table({"text": good[:5] + bad[:5]})
    by_url = QualityClassifierFilter(model=str(folder)).compute_stats(probe).column("quality_score")
    by_path = QualityClassifierFilter(model=str(tmp_path / "copy")).compute_stats(probe).column("quality_score")
    assert by_url.equals(by_path) and min(by_url.to_pylist()[:5]) > max(by_url.to_pylist()[5:])
