"""Training the quality classifier: fastText supervised on positive (e.g. curated reference)
and negative (e.g. raw crawl) documents, as GPT-3 (Brown et al. 2020, appendix A) and later
FineWeb-Edu/DCLM-style pipelines did; saved as model.bin + quality.json."""

from __future__ import annotations

import json
import random
import tempfile
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from operators.classifier.fasttext_model import NEGATIVE, POSITIVE, as_line, fasttext_module
from operators.workfiles import location
from storage import files
from storage.location import Location


@dataclass
class QualityConfig:
    """fastText settings: 5 epochs at learning rate 0.5 (fastText's 0.1 default underfits a few
    thousand documents; its text-classification tutorial raises it to 0.5-1.0), word bigrams, a
    smaller embedding and hash table (a model of ~50 MB), one thread so that training is
    reproducible."""

    epoch: int = 5
    lr: float = 0.5
    word_ngrams: int = 2
    dim: int = 64
    buckets: int = 200_000  # hashed word-bigram rows (fastText's 2M default makes a 0.5-0.8 GB model)
    min_count: int = 1
    max_chars: int = 20_000  # characters of a document the classifier reads
    balance: bool = True  # downsample the larger class to the smaller one (seeded)
    validation: float = 0.1  # share of each class held out to report accuracy
    seed: int = 0
    threads: int = 1


@dataclass
class QualityReport:
    path: str
    positives: int = 0
    negatives: int = 0
    train_examples: int = 0
    validation_examples: int = 0
    validation_accuracy: float | None = None
    seconds: float = 0.0
    config: dict = field(default_factory=dict)


class QualityTrainingError(ValueError):
    """Not enough text of one class."""


def train_quality_classifier(positive: Iterable[str], negative: Iterable[str], folder: str | Path | Location,
                             config: QualityConfig | None = None) -> QualityReport:
    """Train into `folder`: local, or a Location / URL on an object store (fastText saves to a
    local staging file, uploaded under its final name)."""
    config = config or QualityConfig()
    fasttext = fasttext_module()
    started = time.perf_counter()
    folder = location(folder)
    folder.mkdir()
    pos = [x for x in (as_line(t, config.max_chars) for t in positive) if x]
    neg = [x for x in (as_line(t, config.max_chars) for t in negative) if x]
    report = QualityReport(path=str(folder / "model.bin"), positives=len(pos), negatives=len(neg), config=asdict(config))
    for name, rows in (("positive", pos), ("negative", neg)):
        if len(rows) < 2:
            raise QualityTrainingError(f"need at least 2 {name} documents with text, got {len(rows)}")
    rng = random.Random(config.seed)
    if config.balance:
        n = min(len(pos), len(neg))
        pos, neg = (rng.sample(pos, n) if len(pos) > n else pos), (rng.sample(neg, n) if len(neg) > n else neg)
    examples = [(POSITIVE, x) for x in pos] + [(NEGATIVE, x) for x in neg]
    rng.shuffle(examples)
    n_val = int(len(examples) * config.validation)
    val, train = examples[:n_val], examples[n_val:]
    report.train_examples, report.validation_examples = len(train), len(val)
    with tempfile.TemporaryDirectory(prefix="train-quality-") as tmp:
        data = Path(tmp) / "train.txt"
        data.write_text("".join(f"{label} {text}\n" for label, text in train), encoding="utf-8")
        model = fasttext.train_supervised(
            input=str(data), epoch=config.epoch, lr=config.lr, wordNgrams=config.word_ngrams, dim=config.dim,
            minCount=config.min_count, bucket=config.buckets, thread=config.threads, seed=config.seed, verbose=0)
    if val:
        labels, _ = model.predict([text for _, text in val], k=1)
        report.validation_accuracy = sum(got[0] == want for got, (want, _) in zip(labels, val)) / len(val)
    with files.staging_file(folder / "model.bin") as model_path:  # fastText saves by file name only
        model.save_model(str(model_path))
    report.seconds = time.perf_counter() - started
    files.write_text(folder / "quality.json", json.dumps(asdict(report), indent=2, sort_keys=True))
    return report
