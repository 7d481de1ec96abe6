"""`quality_classifier_filter`: score documents with the fastText quality classifier and keep
them by threshold or by GPT-3's Pareto sampling."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pyarrow as pa
import xxhash
from pydantic import Field, PrivateAttr, model_validator

from operators.base import DOC_KEY, ID, Filter, reasons_from_rules, texts, with_column
from operators.classifier.fasttext_model import POSITIVE, as_line, fasttext_module
from operators.registry import register


def document_uniforms(table: pa.Table, seed: int) -> np.ndarray:
    """A uniform number in [0, 1) per document from a seeded hash of its id (or `_doc_key`):
    the same for a document whatever the batch, order or number of workers."""
    if ID in table.column_names:
        keys = [str(x).encode("utf-8", "surrogatepass") for x in table.column(ID).to_pylist()]
    else:
        keys = [int(x).to_bytes(8, "little", signed=True) for x in table.column(DOC_KEY).to_pylist()]
    h = np.fromiter((xxhash.xxh64_intdigest(k, seed) for k in keys), dtype=np.uint64, count=len(keys))
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def pareto_keep(score: np.ndarray, uniform: np.ndarray, alpha: float) -> np.ndarray:
    """GPT-3's rule `np.random.pareto(alpha) > 1 - score`, with the Pareto draw (numpy's Lomax
    form, P(X > x) = (1 + x) ** -alpha) made by inverse CDF from the document's uniform."""
    draw = (1.0 - uniform) ** (-1.0 / alpha) - 1.0
    return draw > 1.0 - score


@register
class QualityClassifierFilter(Filter):
    """Score documents with a fastText quality classifier (`pipeline train-quality`) and keep
    the likely high-quality ones.

    Adds `quality_score`: the classifier's probability that the document is like the positive
    (curated) training documents. mode=threshold keeps score >= `threshold`. mode=pareto keeps
    a document when a Pareto(alpha) draw exceeds 1 - score, as GPT-3 filtered Common Crawl
    (Brown et al. 2020, appendix A: `np.random.pareto(alpha) > 1 - document_score`, alpha = 9),
    so that some lower-scored documents stay; the draw is seeded per document from its id, so
    the result does not depend on batching or worker count.
    """

    name = "quality_classifier_filter"
    reasons: ClassVar[tuple[str, ...]] = ("quality_classifier_filter:low_score", "quality_classifier_filter:pareto_sample")
    model: str = Field(description="folder from `pipeline train-quality` (holds model.bin), or the model.bin path")
    mode: Literal["threshold", "pareto"] = Field("threshold", description="keep rule")
    threshold: float = Field(0.5, ge=0.0, le=1.0, description="mode=threshold: minimum quality_score kept")
    alpha: float = Field(9.0, gt=0.0, description="mode=pareto: Pareto shape (GPT-3: 9)")
    seed: int = Field(0, description="mode=pareto: seed of the per-document draws")
    max_chars: int = Field(20_000, ge=1, description="characters of a document the classifier reads (as in training)")

    _model: Any = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _check(self) -> QualityClassifierFilter:
        if not self.model:
            raise ValueError("model: give the folder written by `pipeline train-quality`")
        return self

    def model_path(self) -> Path:
        path = self.resolve_path(self.model)
        return path / "model.bin" if path.is_dir() else path

    def setup(self) -> None:
        fasttext = fasttext_module()
        path = self.model_path()
        if not path.is_file():
            raise FileNotFoundError(f"{self.name}: quality model not found: {path} (train one with "
                                    "`pipeline train-quality`)")
        self._model = fasttext.load_model(str(path))
        if POSITIVE not in self._model.get_labels():
            raise ValueError(f"{self.name}: {path} has labels {self._model.get_labels()}, not {POSITIVE}: "
                             "not a quality model from `pipeline train-quality`")

    def scores(self, docs: list[str]) -> np.ndarray:
        self.ensure_setup()
        lines = [as_line(t, self.max_chars) for t in docs]
        labels, probs = self._model.predict(lines, k=2)
        out = np.zeros(len(lines))
        for i, (lab, pr) in enumerate(zip(labels, probs)):
            for label, p in zip(lab, pr):
                if label == POSITIVE:
                    out[i] = min(1.0, float(p))
        return out

    def compute_stats(self, table: pa.Table) -> pa.Table:
        score = self.scores(texts(table)) if table.num_rows else np.zeros(0)
        return with_column(table, "quality_score", pa.array(score, pa.float64()), pa.float64())

    def decide(self, table: pa.Table) -> pa.Array:
        score = table.column("quality_score").to_numpy() if table.num_rows else np.zeros(0)
        if self.mode == "threshold":
            return reasons_from_rules(table.num_rows, [(score < self.threshold, f"{self.name}:low_score")])
        keep = pareto_keep(score, document_uniforms(table, self.seed), self.alpha)
        return reasons_from_rules(table.num_rows, [(~keep, f"{self.name}:pareto_sample")])

    def stat_thresholds(self) -> dict[str, tuple[float | None, float | None]]:
        return {"quality_score": (self.threshold if self.mode == "threshold" else None, None)}
