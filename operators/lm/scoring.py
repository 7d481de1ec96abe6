"""Document perplexity with a trained model folder, by CCNet's formula.

Per line (CCNet's DocLM): normalize, SentencePiece pieces joined by spaces, KenLM log10 score
with `<s>` and `</s>`, length = pieces + 1; the document's perplexity is
10 ** (-sum(scores) / sum(lengths)) over its lines. Lines empty after normalization are
skipped (CCNet would score them as `<s> </s>`); a document with no scored line has NaN.
CCNet rounds the value to one decimal; it is kept unrounded here.

unit="document" reproduces what CCNet's mining pipeline actually scores: its normalizer deletes
control characters, newlines included, before SentencePiece, so a document is one line whose
lines are glued together.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np

from operators.lm.normalize import document_lines, normalize_lines


class ModelFolderError(ValueError):
    """A model folder is missing or incomplete."""


def model_files(folder: Path) -> tuple[Path, Path]:
    """(SentencePiece model, KenLM model: lm.binary if present, else lm.arpa)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelFolderError(f"perplexity model folder not found: {folder}")
    sp = folder / "sp.model"
    lm = folder / "lm.binary" if (folder / "lm.binary").exists() else folder / "lm.arpa"
    missing = [p.name for p in (sp, lm) if not p.exists()]
    if missing:
        raise ModelFolderError(f"perplexity model folder {folder} lacks {', '.join(missing)} "
                               "(train one with `pipeline train-lm` or the train_lm step)")
    return sp, lm


@contextlib.contextmanager
def _stderr_to_devnull() -> Iterator[None]:
    """Silence C++ writes to file descriptor 2 (Python's sys.stderr is untouched)."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class PerplexityModel:
    """A loaded SentencePiece + KenLM pair (and the cutoffs saved beside them)."""

    def __init__(self, folder: Path, with_cutoffs: bool = True):
        import kenlm
        import sentencepiece as spm

        self.folder = Path(folder)
        sp_path, lm_path = model_files(self.folder)
        self.sp = spm.SentencePieceProcessor(model_file=str(sp_path))
        with _stderr_to_devnull():  # KenLM draws a progress bar on stderr while reading ARPA
            self.lm = kenlm.Model(str(lm_path))
        self.cutoffs: dict[str, float] = {}
        if with_cutoffs and (self.folder / "cutoffs.json").exists():
            data: dict[str, Any] = json.loads((self.folder / "cutoffs.json").read_text())
            self.cutoffs = {str(k): float(v) for k, v in data.get("percentiles", {}).items()}

    def line_scores(self, lines: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """log10 score and length (pieces + 1) of each normalized line."""
        pieces = self.sp.encode(lines, out_type=str)
        score = self.lm.score
        scores = np.fromiter((score(" ".join(p)) for p in pieces), dtype=np.float64, count=len(pieces))
        lengths = np.fromiter((len(p) + 1 for p in pieces), dtype=np.float64, count=len(pieces))
        return scores, lengths

    def perplexity(self, texts: list[str], unit: Literal["line", "document"] = "line") -> np.ndarray:
        """Perplexity of each document (NaN when nothing is left to score)."""
        if unit == "document":
            lines = normalize_lines([(t or "").replace("\n", "") for t in texts])
            doc_of_line = np.arange(len(texts))
        else:
            raw, counts = document_lines([t or "" for t in texts])
            lines = normalize_lines(raw)
            doc_of_line = np.repeat(np.arange(len(texts)), counts)
        keep = np.fromiter((bool(line) for line in lines), dtype=bool, count=len(lines))
        kept = [line for line, k in zip(lines, keep) if k]
        scores, lengths = self.line_scores(kept) if kept else (np.zeros(0), np.zeros(0))
        docs = doc_of_line[keep]
        total_score = np.bincount(docs, weights=scores, minlength=len(texts))
        total_len = np.bincount(docs, weights=lengths, minlength=len(texts))
        with np.errstate(divide="ignore", invalid="ignore"):
            pp = np.where(total_len > 0, 10.0 ** (-total_score / np.maximum(total_len, 1)), np.nan)
        return pp

    def buckets(self, perplexity: np.ndarray, head: str = "30", tail: str = "60") -> np.ndarray:
        """CCNet's buckets: head below the 30th percentile, middle below the 60th, tail above."""
        if head not in self.cutoffs or tail not in self.cutoffs:
            raise ModelFolderError(f"{self.folder}/cutoffs.json has no {head}th and {tail}th percentiles")
        lo, hi = self.cutoffs[head], self.cutoffs[tail]
        out = np.where(perplexity < lo, "head", np.where(perplexity < hi, "middle", "tail")).astype(object)
        out[~np.isfinite(perplexity)] = None
        return out
