"""Training a perplexity model from reference documents: CCNet normalization, SentencePiece,
the n-gram model (own estimator, or lmplz), and percentile cutoffs, all in one folder.

A model folder holds:
  sp.model       SentencePiece model (trained on the normalized text)
  lm.arpa        the n-gram model (and lm.binary when KenLM's build_binary made one)
  cutoffs.json   perplexity percentiles (30th, 60th: CCNet's head/middle/tail) of documents the
                 model was not trained on (see operators/lm/cutoffs.py), and which ones
  model.json     what was trained, how, on how much text

Work files (normalized text, token spool, counts) go to a private temporary folder that is deleted
when training ends, whether it succeeded or not: they hold the reference text.
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from operators.lm.cutoffs import HeldOut, SeenFilter, in_sample_warning, small_sample_warning
from operators.lm.normalize import document_lines, normalize_lines
from operators.workfiles import local_folder
from storage import files
from storage.location import Location

SPLIT_BATCH_LINES = 20_000


@dataclass
class LMConfig:
    """Training settings; defaults follow CCNet (order 5, unigram SentencePiece)."""

    order: int = 5
    vocab_size: int = 32000
    model_type: Literal["unigram", "bpe"] = "unigram"
    sp_sentences: int = 100_000  # lines sampled (seeded) to train SentencePiece on
    character_coverage: float = 0.9999
    estimator: Literal["own", "lmplz", "auto"] = "own"
    binary: bool = False
    seed: int = 0
    lang: str = "en"
    percentiles: tuple[int, ...] = (30, 60)  # CCNet's head / middle / tail cutoffs
    chunk_tokens: int = 4_000_000
    holdout_fraction: float = 0.1  # of the reference held out for the cutoffs (without a cutoff sample)
    cutoff_documents: int = 10_000  # at most this many documents for the cutoffs
    sp_threads: int = 1  # more is faster but not bit-identical between runs


@dataclass
class TrainReport:
    folder: str
    lang: str
    order: int
    documents: int = 0
    lines: int = 0
    tokens: int = 0
    vocab_size: int = 0
    ngrams: list[int] = field(default_factory=list)
    estimator: str = "own"
    discounts: list[list[float]] = field(default_factory=list)
    fallback_discount_orders: list[int] = field(default_factory=list)
    cutoffs: dict[str, float] = field(default_factory=dict)
    cutoff_documents: int = 0
    cutoff_source: str = ""
    cutoff_excluded_trained: int = 0  # documents of a cutoff sample dropped: also in the training text
    cutoff_warning: str | None = None
    held_out_documents: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)


class TrainingError(ValueError):
    """The reference text cannot make a model."""


def _normalized_lines(texts: Iterable[str], sink, report: TrainReport, sample: list[str], rng: random.Random,
                      sample_size: int) -> None:
    """Normalize documents line by line into `sink` (a text file, one line per line) and keep a
    seeded reservoir sample of lines for SentencePiece."""
    batch: list[str] = []
    seen = 0

    def flush() -> None:
        nonlocal seen
        lines, _ = document_lines(batch)
        for line in normalize_lines(lines):
            if not line or line.isspace():
                continue
            sink.write(line)
            sink.write("\n")
            report.lines += 1
            if len(sample) < sample_size:
                sample.append(line)
            else:
                j = rng.randrange(seen + 1)
                if j < sample_size:
                    sample[j] = line
            seen += 1
        batch.clear()

    for text in texts:
        report.documents += 1
        batch.append(text or "")
        if len(batch) >= 2000:
            flush()
    if batch:
        flush()


def _read_lines(path: Path, batch: int = SPLIT_BATCH_LINES) -> Iterator[list[str]]:
    buf: list[str] = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            buf.append(line.rstrip("\n"))
            if len(buf) >= batch:
                yield buf
                buf = []
    if buf:
        yield buf


def train_language_model(texts: Iterable[str], folder: str | Path | Location, config: LMConfig | None = None,
                         cutoff_texts: Iterable[str] | None = None, workdir: Path | None = None,
                         cutoff_trained: bool = False) -> TrainReport:
    """Train SentencePiece + an n-gram model on `texts` (documents) into `folder` (a local folder,
    each file written atomically, or a Location on an object store, uploaded whole at the end).

    Cutoffs (percentiles of document perplexity) come from documents the model was not trained
    on: `cutoff_texts`, a sample of the corpus to be filtered, as CCNet computed them (documents
    whose text is also in `texts` are dropped from it); without it, from a part of `texts` held
    out from training (`config.holdout_fraction`, at most `config.cutoff_documents`, chosen by a
    seeded text hash). Fewer than 1,000 such documents give a SmallCutoffSampleWarning.
    `cutoff_trained`: the cutoff sample is (part of) the training text, on purpose, to bucket that
    same text; kept whole, marked `trained_on` in cutoffs.json with a note that the cutoffs do not
    carry over to new text.
    `workdir`: where the private temporary work folder is made (default: the system's)."""
    target = folder if isinstance(folder, Location) else Location(folder)
    with local_folder(target) as local:
        return _train_into(texts, local, str(target), config or LMConfig(), cutoff_texts, workdir, cutoff_trained)


def _train_into(texts: Iterable[str], folder: Path, label: str, config: LMConfig, cutoff_texts: Iterable[str] | None,
                workdir: Path | None, cutoff_trained: bool) -> TrainReport:
    import sentencepiece as spm

    from operators.lm import kenlm_tools
    from operators.lm.sentencepiece_train import train_sentencepiece

    if workdir is not None:
        Path(workdir).mkdir(parents=True, exist_ok=True)
    # mode 0700, removed in `finally`: nothing of the reference text stays on disk
    work = Path(tempfile.mkdtemp(prefix="train-lm-", dir=workdir))
    report = TrainReport(folder=label, lang=config.lang, order=config.order, config=asdict(config))
    t0 = time.perf_counter()
    held_out = seen = None
    if cutoff_texts is None:
        held_out = HeldOut(config.holdout_fraction, config.cutoff_documents, config.seed)
        training_texts = held_out.split(texts)
    else:
        seen = SeenFilter(cutoff_texts, config.seed, drop_seen=not cutoff_trained)
        training_texts = seen.watch(texts)
    try:
        # 1. normalize to a text file, sampling lines for SentencePiece
        sample: list[str] = []
        normalized = work / "normalized.txt"
        with open(normalized, "w", encoding="utf-8") as sink:
            _normalized_lines(training_texts, sink, report, sample, random.Random(config.seed), config.sp_sentences)
        if report.lines == 0:
            raise TrainingError(f"no text to train on: {report.documents} documents, none with any text after "
                                "normalization")
        report.seconds["normalize"] = time.perf_counter() - t0

        # 2. SentencePiece
        t1 = time.perf_counter()
        sp_path = train_sentencepiece(sample, work / "sp", vocab_size=config.vocab_size, model_type=config.model_type,
                                      character_coverage=config.character_coverage, seed=config.seed,
                                      threads=config.sp_threads)
        del sample
        sp = spm.SentencePieceProcessor(model_file=str(sp_path))
        report.vocab_size = sp.get_piece_size()
        report.seconds["sentencepiece"] = time.perf_counter() - t1

        # 3. encode, then estimate, straight into the folder (each file written whole or not at all)
        t2 = time.perf_counter()
        _estimate(config, sp, normalized, work, report, folder / "lm.arpa")
        report.seconds["estimate"] = time.perf_counter() - t2

        # 4. the SentencePiece model beside it; binary if asked
        with files.staging_file(folder / "sp.model") as sp_copy:
            shutil.copyfile(sp_path, sp_copy)
        if config.binary:
            with files.staging_file(folder / "lm.binary") as binary:
                kenlm_tools.run_build_binary(folder / "lm.arpa", binary)
        if not report.ngrams:
            report.ngrams = _arpa_counts(folder / "lm.arpa")

        # 5. cutoffs from documents not trained on
        t3 = time.perf_counter()
        _write_cutoffs(folder, config, report, held_out, seen)
        report.seconds["cutoffs"] = time.perf_counter() - t3
        report.seconds["total"] = time.perf_counter() - t0
        _write_json(folder / "model.json", asdict(report))
        return report
    finally:
        remove_work_folder(work)


def _estimate(config: LMConfig, sp: Any, normalized: Path, work: Path, report: TrainReport, arpa: Path) -> None:
    """Encode the normalized text with SentencePiece and estimate the n-gram model into `arpa`
    (lmplz when asked or found, else the project's own estimator)."""
    from operators.lm import kenlm_tools
    from operators.lm.arpa import write_arpa
    from operators.lm.kneser_ney import estimate
    from operators.lm.spool import TokenSpool, flat_from_lists

    estimator = config.estimator
    if estimator == "auto":
        estimator = "lmplz" if kenlm_tools.find_tool("lmplz") else "own"
    report.estimator = estimator
    vocab = ["<unk>", "<s>", "</s>", *(sp.id_to_piece(i) for i in range(3, sp.get_piece_size()))]
    if estimator == "lmplz":
        pieces_txt = work / "pieces.txt"
        with open(pieces_txt, "w", encoding="utf-8") as out:
            for lines in _read_lines(normalized):
                for ids in sp.encode(lines, out_type=int):
                    words = [vocab[i] for i in ids if i]  # unknown pieces dropped, as below
                    report.tokens += len(words)
                    out.write(" ".join(words))
                    out.write("\n")
        with files.staging_file(arpa) as arpa_tmp:
            kenlm_tools.run_lmplz(pieces_txt, arpa_tmp, config.order, work)
        return
    spool = TokenSpool(work / "spool", chunk_tokens=config.chunk_tokens)
    for lines in _read_lines(normalized):
        flat, lengths = flat_from_lists(sp.encode(lines, out_type=int))
        # SentencePiece's unknown piece (id 0) is no word; dropped like lmplz --skip_symbols
        if (flat == 0).any():
            keep = flat != 0
            sentence = np.repeat(np.arange(len(lengths)), lengths)
            lengths = np.bincount(sentence[keep], minlength=len(lengths))
            flat = flat[keep]
        spool.add(flat, lengths)
    spool.close()
    report.tokens = spool.tokens
    model = estimate(spool, config.order, work / "count")
    write_arpa(model, vocab, arpa)
    report.ngrams = model.counts()
    report.order = model.order
    report.discounts = [list(d.d[1:]) for d in model.discounts]
    report.fallback_discount_orders = [n + 1 for n, d in enumerate(model.discounts) if d.fallback]
    spool.cleanup()


def remove_work_folder(path: Path) -> None:
    """Delete a work folder that holds reference text; say so if that fails (without hiding an
    error already on its way)."""
    shutil.rmtree(path, ignore_errors=True)
    if path.exists():
        warnings.warn(f"could not delete {path}, which holds training text: delete it by hand", stacklevel=2)


def _write_cutoffs(folder: Path, config: LMConfig, report: TrainReport, held_out: HeldOut | None,
                   seen: SeenFilter | None) -> None:
    """Percentiles of the perplexity of the held-out reference documents or of the cutoff
    sample's documents not in the training text, into cutoffs.json (with where they come from)."""
    from operators.lm.scoring import PerplexityModel

    if held_out is not None:
        sample_texts = held_out.texts
        report.held_out_documents = len(sample_texts)
        report.cutoff_source = "held-out reference documents"
    else:
        assert seen is not None
        sample_texts = seen.unseen()
        report.cutoff_excluded_trained = len(seen.sample) - len(sample_texts)
        report.cutoff_source = "cutoff sample" if seen.drop_seen else "training documents"
    pp = PerplexityModel(folder, with_cutoffs=False).perplexity(sample_texts)
    pp = pp[np.isfinite(pp)]
    report.cutoff_documents = int(len(pp))
    if len(pp):
        report.cutoffs = {str(p): float(np.percentile(pp, p)) for p in config.percentiles}
    trained_on = seen is not None and not seen.drop_seen
    if trained_on:
        report.cutoff_warning = in_sample_warning()
    else:
        what = ("held-out reference documents (not trained on)" if held_out is not None
                else "documents of the cutoff sample not in the training text")
        report.cutoff_warning = small_sample_warning(report.cutoff_documents, what)
    cutoffs = {"percentiles": report.cutoffs, "documents": report.cutoff_documents, "source": report.cutoff_source,
               "trained_on": trained_on, "warning": report.cutoff_warning}
    if held_out is not None:
        cutoffs["held_out_fraction"] = config.holdout_fraction
        cutoffs["reference_documents"] = held_out.documents
    else:
        cutoffs["excluded_trained"] = report.cutoff_excluded_trained
    _write_json(folder / "cutoffs.json", cutoffs)


def _arpa_counts(path: Path) -> list[int]:
    counts = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("ngram "):
                counts.append(int(line.split("=")[1]))
            elif line.startswith("\\1-grams"):
                break
    return counts


def _write_json(path: Path, data: dict[str, Any]) -> None:
    files.write_text(path, json.dumps(data, indent=2, sort_keys=True))
