"""`perplexity_filter`: CCNet-style perplexity of each document under a KenLM model trained
here, per language, with a maximum or CCNet's head/middle/tail buckets."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, PrivateAttr, model_validator

from operators.base import ARTIFACT_PREFIX, ID, Filter, Resources, reasons_from_rules, texts, with_column
from operators.registry import register

BUCKETS = ("head", "middle", "tail")


@register
class PerplexityFilter(Filter):
    """Score documents with a KenLM n-gram model (CCNet's formula) and keep the fluent ones.

    Perplexity as CCNet (Wenzek et al. 2020, cc_net/perplexity.py): each line normalized
    (lowercase, accents stripped, digits to 0, punctuation mapped), SentencePiece pieces joined
    by spaces, KenLM log10 score with `<s>`/`</s>`, perplexity = 10 ** (-sum(scores) /
    sum(pieces + 1)) over the lines. Adds `perplexity` (float64; null when the document has no
    text or its language no model) and `perplexity_bucket` (head / middle / tail against the
    30th and 60th percentiles saved beside the model, CCNet's split; null without cutoffs).

    Models: `model` (one folder for every document) or `models` (language -> folder, chosen by
    the `lang` column that language identification adds). A folder is a path or
    `artifact:<name>` for a model a `train_lm` step made earlier in the same recipe; it is
    loaded once per process, at setup, or at the first batch if the training step runs later.
    Keep rules: `max_perplexity` and/or `keep_buckets` (CCNet kept head and middle for its
    high-quality splits). No default threshold: perplexity scales depend on the model.
    """

    name = "perplexity_filter"
    reasons: ClassVar[tuple[str, ...]] = tuple(f"perplexity_filter:{r}" for r in ("no_model", "no_text", "too_high", *BUCKETS))
    resources: ClassVar[Resources] = Resources(cpus=1.0, memory_gb=1.0)  # a KenLM model per process
    model: str | None = Field(None, description="model folder (or artifact:<name>) for every document")
    models: dict[str, str] | None = Field(None, description="language -> model folder, chosen by the lang column")
    max_perplexity: float | None = Field(None, gt=0, description="remove documents above this perplexity; null = none")
    keep_buckets: list[Literal["head", "middle", "tail"]] | None = Field(
        None, description="keep only these CCNet buckets (e.g. [head, middle]); null = no bucket rule")
    lang_column: str = Field("lang", description="column naming each document's language (with `models`)")
    missing_model: Literal["remove", "keep", "error"] = Field(
        "remove", description="a document whose language has no model: remove (reason no_model), keep, or error")
    unit: Literal["line", "document"] = Field(
        "line", description="score per line (CCNet's formula) or the whole document as one line (CCNet's mining)")

    _scorers: dict[str, Any] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _one_source(self) -> PerplexityFilter:
        if (self.model is None) == (self.models is None):
            raise ValueError("give exactly one of `model` (one folder) or `models` (language -> folder)")
        if self.models is not None and not self.models:
            raise ValueError("`models` is empty")
        return self

    def _folders(self) -> dict[str, str]:
        return {"*": self.model} if self.model is not None else dict(self.models or {})

    def setup(self) -> None:
        import kenlm  # noqa: F401  (fail early if KenLM is missing)
        import sentencepiece  # noqa: F401

        # models available now are loaded now; `artifact:` ones trained later in this recipe load
        # at the first batch
        for lang, ref in self._folders().items():
            if ref.startswith(ARTIFACT_PREFIX) and self._run_artifacts is None:
                continue
            self._scorer(lang)

    def _scorer(self, lang: str) -> Any:
        scorer = self._scorers.get(lang)
        if scorer is None:
            from operators.lm.scoring import PerplexityModel

            folder = self.resolve_path(self._folders()[lang])
            scorer = self._scorers[lang] = PerplexityModel(folder)
            if self.keep_buckets and not {"30", "60"} <= set(scorer.cutoffs):
                raise ValueError(f"{self.name}: keep_buckets needs cutoffs, but {folder}/cutoffs.json has no 30th and "
                                 "60th percentiles")
        return scorer

    def compute_stats(self, table: pa.Table) -> pa.Table:
        n = table.num_rows
        perplexity = np.full(n, np.nan)
        bucket = np.full(n, None, dtype=object)
        if n:
            docs = texts(table)
            if self.model is not None:
                groups = {"*": np.arange(n)}
            else:
                if self.lang_column not in table.column_names:
                    raise ValueError(f"{self.name}: `models` chooses by the {self.lang_column!r} column, which this "
                                     f"table lacks (columns: {', '.join(table.column_names)}); run language "
                                     "identification first, or give one `model`")
                langs = np.asarray(pc.fill_null(table.column(self.lang_column).cast(pa.string()), "").to_pylist(),
                                   dtype=object)
                groups = {}
                missing = []
                for lang in sorted(set(langs)):
                    rows = np.flatnonzero(langs == lang)
                    if lang in self._folders():
                        groups[lang] = rows
                    else:
                        missing.append((lang, rows))
                if missing and self.missing_model == "error":
                    lang, rows = missing[-1]
                    ids = table.column(ID).take(pa.array(rows[:3])).to_pylist() if ID in table.column_names else []
                    raise ValueError(f"{self.name}: no model for language {lang!r} (documents {ids}); "
                                     f"languages without a model here: {[m for m, _ in missing]}; models exist for "
                                     f"{sorted(self._folders())}; set missing_model to remove or keep")
            for lang, rows in groups.items():
                scorer = self._scorer(lang)
                pp = scorer.perplexity([docs[i] for i in rows], unit=self.unit)
                perplexity[rows] = pp
                if scorer.cutoffs.keys() >= {"30", "60"}:
                    bucket[rows] = scorer.buckets(pp)
        pp_arr = pa.array(perplexity, type=pa.float64(), mask=~np.isfinite(perplexity))
        table = with_column(table, "perplexity", pp_arr, pa.float64())
        return with_column(table, "perplexity_bucket", pa.array(bucket, type=pa.string()), pa.string())

    def _has_model(self, table: pa.Table) -> np.ndarray:
        if self.model is not None or table.num_rows == 0:
            return np.ones(table.num_rows, dtype=bool)
        langs = pc.fill_null(table.column(self.lang_column).cast(pa.string()), "")
        return pc.is_in(langs, value_set=pa.array(sorted(self._folders()), pa.string())).to_numpy(zero_copy_only=False)

    def decide(self, table: pa.Table) -> pa.Array:
        n = table.num_rows
        has_model = self._has_model(table)
        pp = table.column("perplexity").to_numpy(zero_copy_only=False).astype(np.float64) if n else np.zeros(0)
        scored = np.isfinite(pp)
        rules: list[tuple[np.ndarray, str]] = []
        if self.missing_model == "remove":
            rules.append((~has_model, f"{self.name}:no_model"))
        # a document with a model but nothing to score (empty, or only whitespace)
        rules.append((has_model & ~scored, f"{self.name}:no_text"))
        if self.max_perplexity is not None:
            rules.append((scored & (np.nan_to_num(pp, nan=0.0) > self.max_perplexity), f"{self.name}:too_high"))
        if self.keep_buckets:
            bucket = np.asarray(table.column("perplexity_bucket").to_pylist(), dtype=object)
            for b in BUCKETS:
                if b not in self.keep_buckets:
                    rules.append((scored & (bucket == b), f"{self.name}:{b}"))
        return reasons_from_rules(n, rules)

    def stat_thresholds(self) -> dict[str, tuple[float | None, float | None]]:
        return {"perplexity": (None, self.max_perplexity)}
