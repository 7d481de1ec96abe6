"""`train_lm`: the recipe step that trains a perplexity model (SentencePiece + n-gram) that a
later `perplexity_filter` uses as `artifact:<artifact>`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import numpy as np
import pyarrow as pa
import xxhash
from pydantic import Field

from operators.base import DOC_KEY, TEXT, GlobalOperator, Resources, Stage, StageContext, StepResult
from operators.lm.reference import iter_texts, of_lang
from operators.registry import register
from storage.location import Location


def bottom_k_sample(batches: Iterator[pa.Table], k: int, seed: int) -> list[str]:
    """The k documents with the smallest seeded hash of their `_doc_key`: the same sample
    whatever the batching or the number of workers, in bounded memory."""
    keep_h = np.zeros(0, np.uint64)
    keep_t: list[str] = []
    for batch in batches:
        if not batch.num_rows:
            continue
        keys = batch.column(DOC_KEY).to_numpy()
        h = np.fromiter((xxhash.xxh64_intdigest(int(x).to_bytes(8, "little", signed=True), seed) for x in keys),
                        dtype=np.uint64, count=len(keys))
        all_h = np.concatenate([keep_h, h])
        all_t = keep_t + [t or "" for t in batch.column(TEXT).to_pylist()]
        if len(all_h) > k:
            order = np.argsort(all_h, kind="stable")[:k]
            order.sort()
            all_h = all_h[order]
            all_t = [all_t[i] for i in order]
        keep_h, keep_t = all_h, all_t
    order = np.argsort(keep_h, kind="stable")
    return [keep_t[i] for i in order]


@register
class TrainLM(GlobalOperator):
    """Train a perplexity model: CCNet normalization, SentencePiece (unigram), and an
    interpolated modified Kneser-Ney n-gram model (order 5, as CCNet) with this project's own
    estimator, written as ARPA; plus the 30th/60th perplexity percentiles (CCNet's
    head/middle/tail cutoffs) of documents the model was not trained on, saved beside the model.

    Trains on `reference` (Parquet/JSONL path, glob or list; e.g. Wikipedia-like or curated
    text), or, when it is null, on this step's input documents. Rows with a `lang` column of
    another language than `lang` are skipped. The model goes to the run's
    `artifacts/<artifact>/`; a later `perplexity_filter` names it `artifact:<artifact>`.
    Documents pass through unchanged. From Python, call
    `operators.lm.training.train_language_model` instead (`run()` trains into a temporary folder).

    Cutoffs (`cutoff_sample`): `held_out` keeps `holdout_fraction` of the reference (at most
    `cutoff_documents`, chosen by a seeded hash of the text) out of training and takes the
    percentiles on it, so a corpus like the reference lands about 30% / 30% / 40% in head /
    middle / tail; `input` takes them on a sample of this step's input, as CCNet did (the
    buckets are then relative to this corpus), minus documents also in the reference. `auto`
    (default): `held_out` with a `reference`, `input` without one.

    An n-gram model nearly memorizes its training text. With `reference: null` the model is
    trained on the input it then scores: its documents score far lower than new text (with
    held-out cutoffs a bucket filter in the same run kept 93% of corpus_en news as head). So
    without a reference the percentiles are taken on the trained input documents themselves
    (`input`): that input splits 30/30/40, but the cutoffs do not carry over to other text;
    cutoffs.json marks them `trained_on: true` with a note. Better: give a `reference`.
    cutoffs.json says which documents were used and warns when they are fewer than 1,000.

    The normalized text, token spool and counts are written to a private folder under the
    step's work folder (the system's temporary folder when that is on an object store) and
    deleted when training ends (success or failure).
    """

    name = "train_lm"
    artifact: str = Field("lm", pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$",
                          description="folder under the run's artifacts (the filter's artifact:<name>)")
    lang: str = Field("en", description="language of the model; rows whose lang column differs are skipped")
    reference: str | list[str] | None = Field(None, description="reference text (path/glob/list); null = this step's input")
    reference_text_column: str = Field("text", description="text column of the reference files")
    reference_where: dict[str, list[str]] | None = Field(
        None, description="keep reference rows whose column value is listed, e.g. {source: [wikitext2]}")
    order: int = Field(5, ge=1, le=10, description="n-gram order (CCNet: 5)")
    vocab_size: int = Field(32000, ge=100, le=1_000_000, description="SentencePiece vocabulary (fewer on small text)")
    sp_model_type: Literal["unigram", "bpe"] = Field("unigram", description="SentencePiece model type")
    sp_sentences: int = Field(100_000, ge=100, description="lines sampled (seeded) to train SentencePiece")
    estimator: Literal["own", "lmplz", "auto"] = Field(
        "own", description="own estimator, KenLM's lmplz, or lmplz when found")
    binary: bool = Field(False, description="also write KenLM's binary format (needs build_binary)")
    cutoff_sample: Literal["auto", "held_out", "input"] = Field(
        "auto", description="percentiles on a held-out part of the reference, or on a sample of this step's input "
                            "(auto: held_out with a reference, input without)")
    holdout_fraction: float = Field(0.1, gt=0, lt=1, description="part of the reference held out for the percentiles")
    cutoff_documents: int = Field(10_000, ge=10, description="at most this many documents for the percentiles")
    seed: int = Field(0, description="seed of every sample")

    def stages(self) -> list[Stage]:
        # one process: SentencePiece on one thread, then the estimator (a few GB at 10M tokens)
        return [Stage("train", "global", self._train, resources=Resources(cpus=1.0, memory_gb=4.0))]

    def folder(self, ctx: StageContext) -> Location:
        if ctx.artifacts is None:
            raise RuntimeError("train_lm: the executor gave no artifacts folder")
        return ctx.artifacts / self.artifact

    def _input_batches(self, ctx: StageContext) -> Iterator[pa.Table]:
        for shard in ctx.iter_shards():
            for batch in shard.batches():
                yield of_lang(batch, self.lang)

    def _train(self, ctx: StageContext) -> None:
        from operators.lm.training import LMConfig, remove_work_folder, train_language_model

        config = LMConfig(order=self.order, vocab_size=self.vocab_size, model_type=self.sp_model_type,
                          sp_sentences=self.sp_sentences, estimator=self.estimator, binary=self.binary,
                          seed=self.seed, lang=self.lang, holdout_fraction=self.holdout_fraction,
                          cutoff_documents=self.cutoff_documents)
        cutoff_texts = None
        sample = self.cutoff_sample
        if sample == "auto":
            sample = "held_out" if self.reference is not None else "input"
        if sample == "input":
            cutoff_texts = bottom_k_sample(self._input_batches(ctx), self.cutoff_documents, self.seed)
        if self.reference is None:
            texts = (t or "" for b in self._input_batches(ctx) for t in b.column(TEXT).to_pylist())
        else:
            texts = iter_texts(ctx.iter_files(self.reference, self.reference_text_column), self.reference_where,
                               self.lang)
        # the work files hold the reference text: a killed attempt's are removed before, ours after;
        # native tools need them on local disk, so with a work folder on an object store they go to
        # the system's temporary folder
        work = None if ctx.workdir.is_remote else ctx.workdir.path / "train"
        if work is not None:
            remove_work_folder(work)
        try:
            report = train_language_model(texts, self.folder(ctx), config, cutoff_texts=cutoff_texts, workdir=work,
                                          cutoff_trained=self.reference is None)
        finally:
            if work is not None:
                remove_work_folder(work)
        ctx.metrics["train_lm:documents"] += report.documents
        ctx.metrics["train_lm:tokens"] += report.tokens
        ctx.metrics["train_lm:cutoff_documents"] += report.cutoff_documents

    def apply_shard(self, table: pa.Table, shard_index: int, ctx: StageContext) -> StepResult:
        return StepResult(table)
