"""The `train_tokenizer` step: train a tokenizer on (a seeded sample of) the corpus.

Usually the last step of a recipe. Its one global stage streams the step's input shards twice
(sample selection, then training; WordPiece reads its sample once more, see hf.py), never holding
the corpus in memory, and writes `<output>/artifacts/<artifact>/`:

  tokenizer.json          loads with tokenizers.Tokenizer.from_file and
                          transformers.PreTrainedTokenizerFast(tokenizer_file=...)
  tokenizer_config.json   special-token roles, for PreTrainedTokenizerFast.from_pretrained(folder)
  tokenizer.model/.vocab  the SentencePiece model (sentencepiece_* only)
  summary.json/.md        vocabulary size, bytes per token, tokens per word, unknown and
                          byte-fallback shares on a held-out sample

Every row is kept. The same documents, parameters and seed give byte-identical files.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
from pydantic import Field, model_validator

from operators.base import DOC_KEY, TEXT, GlobalOperator, ShardInput, Stage, StageContext, as_table
from operators.registry import register
from operators.tokenizer.sample import Sample, StreamCounts, held_out_batches, select_sample, stream_training_texts
from storage import files
from storage.location import Location

Algorithm = Literal["bpe", "wordpiece", "unigram", "sentencepiece_bpe", "sentencepiece_unigram"]
TRAINED_BY_SENTENCEPIECE = ("unigram", "sentencepiece_bpe", "sentencepiece_unigram")

# Per-algorithm defaults: GPT-2 (byte-level BPE, no normalization, <|endoftext|>), BERT uncased
# (google-research/bert: lowercase, accents stripped, [PAD] [UNK] [CLS] [SEP] [MASK]), and
# SentencePiece (NFKC, <unk> <s> </s> at ids 0-2).
DEFAULTS: dict[str, dict[str, Any]] = {
    "bpe": {"special_tokens": ["<|endoftext|>"], "normalization": "none", "lowercase": False,
            "strip_accents": False, "pre_tokenizer": "byte_level"},
    "wordpiece": {"special_tokens": ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"], "unk_token": "[UNK]",
                  "normalization": "nfc", "lowercase": True, "strip_accents": True, "pre_tokenizer": "bert"},
    "unigram": {"special_tokens": ["<unk>", "<s>", "</s>"], "unk_token": "<unk>", "normalization": "nfkc",
                "lowercase": False, "strip_accents": False, "pre_tokenizer": "metaspace"},
}
DEFAULTS["sentencepiece_bpe"] = DEFAULTS["sentencepiece_unigram"] = DEFAULTS["unigram"]
PRE_TOKENIZERS = {"bpe": ("byte_level", "metaspace"), "wordpiece": ("bert", "whitespace"), "unigram": ("metaspace",),
                  "sentencepiece_bpe": ("metaspace",), "sentencepiece_unigram": ("metaspace",)}
SENTENCEPIECE_DEFAULT_MAX_BYTES = 1_000_000_000
ROLE_CANDIDATES = {
    "bos_token": ("<s>", "<|endoftext|>", "<|begin_of_text|>"),
    "eos_token": ("</s>", "<|endoftext|>", "<|end_of_text|>"),
    "pad_token": ("[PAD]", "<pad>", "<|pad|>"),
    "cls_token": ("[CLS]", "<cls>"),
    "sep_token": ("[SEP]", "<sep>"),
    "mask_token": ("[MASK]", "<mask>"),
}


@register
class TrainTokenizer(GlobalOperator):
    """Train a tokenizer on the corpus (byte-level BPE, WordPiece, Unigram, SentencePiece BPE/unigram);
    writes tokenizer.json (+ SentencePiece .model) and a held-out summary to artifacts/<artifact>/.

    Algorithms: `bpe` (GPT-2 byte-level BPE, tokenizers), `wordpiece` (BERT, tokenizers), `unigram`
    (a tokenizers Unigram tokenizer; pieces and scores from SentencePiece's unigram trainer, because
    tokenizers' own UnigramTrainer is not reproducible), `sentencepiece_bpe` and
    `sentencepiece_unigram` (SentencePiece models, plus an equivalent tokenizer.json).
    Parameters left null take the algorithm's conventional value (DEFAULTS in this module).
    The sample is the `held_out_documents` + `max_documents` documents (or `max_bytes` bytes)
    with the lowest seeded hash of their key: uniform, and independent of sharding and workers.
    Keeps every row.
    """

    name = "train_tokenizer"

    algorithm: Algorithm = Field("bpe", description="bpe | wordpiece | unigram | sentencepiece_bpe | sentencepiece_unigram")
    artifact: str = Field("tokenizer", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
                          description="folder name under the run's artifacts/")
    vocab_size: int = Field(32000, ge=64, le=2_000_000, description="vocabulary size, special tokens included")
    special_tokens: list[str] | None = Field(None, description="null: the algorithm's usual ones (first ids, in order)")
    unk_token: str | None = Field(None, description="unknown token (null: [UNK] / <unk>; byte-level BPE has none)")
    normalization: Literal["none", "nfc", "nfkc"] | None = Field(
        None, description="Unicode normal form applied before tokenizing (null: bpe none, wordpiece nfc, others nfkc)")
    lowercase: bool | None = Field(None, description="lowercase (null: true for wordpiece only)")
    strip_accents: bool | None = Field(None, description="remove combining marks (null: true for wordpiece only)")
    pre_tokenizer: Literal["byte_level", "metaspace", "bert", "whitespace"] | None = Field(
        None, description="bpe: byte_level or metaspace; wordpiece: bert or whitespace; others: metaspace")
    split_digits: bool = Field(False, description="every digit is its own token (as in LLaMA)")
    min_frequency: int | None = Field(None, ge=1, description="bpe/wordpiece: minimum pair frequency to merge (null: 2)")
    byte_fallback: bool = Field(False, description="unknown characters become <0xXX> byte tokens "
                                                   "(bpe with metaspace, unigram, sentencepiece_*)")
    max_token_length: int = Field(16, ge=1, le=256, description="longest token in characters "
                                                               "(16: SentencePiece's max_sentencepiece_length default)")
    character_coverage: float | None = Field(
        None, gt=0, le=1, description="SentencePiece-trained algorithms: share of characters covered "
                                      "(null: 0.9995, SentencePiece's default)")
    max_documents: int | None = Field(None, ge=1, description="train on at most this many sampled documents")
    max_bytes: int | None = Field(None, ge=1, description="train on about this many sampled bytes of text "
                                                           "(null: all; SentencePiece-trained: 1e9, as it holds its sample in memory)")
    held_out_documents: int = Field(1000, ge=0, description="documents kept out of training for the summary")
    seed: int = Field(0, ge=0, description="sample seed (and SentencePiece's random seed)")
    threads: int = Field(4, ge=1, le=1024, description="SentencePiece training threads; its result depends on this "
                                                       "number, so it is a fixed parameter, not the core count")

    @model_validator(mode="after")
    def _resolve(self) -> TrainTokenizer:
        algo = self.algorithm
        for key, value in DEFAULTS[algo].items():
            if getattr(self, key) is None:
                setattr(self, key, list(value) if isinstance(value, list) else value)
        if self.pre_tokenizer not in PRE_TOKENIZERS[algo]:
            raise ValueError(f"pre_tokenizer {self.pre_tokenizer!r} does not go with {algo} "
                             f"(choose {' or '.join(PRE_TOKENIZERS[algo])})")
        if algo == "bpe" and self.pre_tokenizer == "metaspace" and self.unk_token is None:
            self.unk_token = "<unk>"
        specials = list(self.special_tokens or [])
        if any(not t for t in specials) or len(set(specials)) != len(specials):
            raise ValueError("special_tokens must be distinct, non-empty strings")
        if self.unk_token is not None and self.unk_token not in specials:
            specials.insert(0, self.unk_token)
        if self.unk_token is None and algo != "bpe":
            raise ValueError(f"{algo} needs an unk_token")
        self.special_tokens = specials
        if self.byte_fallback and not (algo in TRAINED_BY_SENTENCEPIECE or self.pre_tokenizer == "metaspace"):
            raise ValueError("byte_fallback needs bpe with pre_tokenizer metaspace, unigram or sentencepiece_* "
                             "(byte-level BPE covers every byte already; WordPiece has no byte tokens)")
        if algo in TRAINED_BY_SENTENCEPIECE:
            if self.min_frequency is not None:
                raise ValueError(f"min_frequency is a bpe/wordpiece parameter; {algo} has no such threshold")
            if self.character_coverage is None:
                self.character_coverage = 0.9995
            if self.max_documents is None and self.max_bytes is None:
                self.max_bytes = SENTENCEPIECE_DEFAULT_MAX_BYTES
        else:
            if self.character_coverage is not None:
                raise ValueError("character_coverage applies to SentencePiece-trained algorithms only")
            if self.min_frequency is None:
                self.min_frequency = 2
        if algo.startswith("sentencepiece_"):
            if self.normalization == "nfc" or self.strip_accents or (self.lowercase and self.normalization != "nfkc"):
                raise ValueError("SentencePiece's own normalization rules are nfkc, nfkc + lowercase, or none; "
                                 "for nfc or strip_accents use algorithm unigram or bpe")
        base = len(specials) + (256 if self.byte_fallback else 0) + (256 if self.pre_tokenizer == "byte_level" else 0)
        if self.vocab_size <= base:
            raise ValueError(f"vocab_size {self.vocab_size} leaves no room beyond {base} special, byte and alphabet tokens")
        return self

    # ---- the step ------------------------------------------------------------------------
    def stages(self) -> list[Stage]:
        return [Stage("train", "global", self._train_stage)]

    def _train_stage(self, ctx: StageContext) -> None:
        if ctx.artifacts is None:
            raise RuntimeError("train_tokenizer: the executor gave no artifacts folder")
        seconds: dict[str, float] = {}
        summary = train_to_folder(self, ctx.iter_shards, ctx.artifacts / self.artifact, ctx.workdir, seconds)
        ctx.metrics["tokenizer:train_documents"] += summary["training"]["documents"]
        ctx.metrics["tokenizer:train_bytes"] += summary["training"]["bytes"]
        ctx.metrics["tokenizer:vocab_size"] += summary["vocab_size"]
        for phase, value in seconds.items():
            ctx.metrics[f"tokenizer:{phase}_seconds"] += round(value, 3)


# ---- training into a folder (the step, the CLI and the Python API) ---------------------------


def train_to_folder(op: TrainTokenizer, shards: Callable[[], Iterable[ShardInput]], out_dir: Path | Location,
                    workdir: Path | Location, seconds: dict[str, float] | None = None) -> dict[str, Any]:
    """Sample, train, evaluate and write every artifact to `out_dir` (replaced atomically; local or
    on an object store). The held-out documents and SentencePiece's files go to `workdir`, or to
    the system's temporary folder when that is on an object store (native libraries write them by
    name). `seconds` receives the time of each phase (sample, train, evaluate); the files hold no
    timings, so that the same input gives the same bytes."""
    if isinstance(workdir, Location):
        if workdir.is_remote:
            with tempfile.TemporaryDirectory(prefix="train_tokenizer-") as local:
                return train_to_folder(op, shards, out_dir, Path(local), seconds)
        workdir = workdir.path
    clock = _Clock(seconds if seconds is not None else {})
    sample = select_sample(shards(), op.seed, op.held_out_documents, op.max_documents, op.max_bytes)
    _check_sample(sample)
    clock.lap("sample")
    workdir.mkdir(parents=True, exist_ok=True)
    held_path = workdir / f"{op.artifact}.held_out.parquet"
    spm_work = workdir / f"{op.artifact}.spm"
    try:
        with files.staging_dir(out_dir) as tmp:  # replaces out_dir whole when the block completes
            summary = _train_into(op, shards, sample, tmp, held_path, spm_work, clock)
        clock.lap("evaluate")
        return summary
    finally:
        # no copy of documents or intermediate models stays behind in the work folder
        shutil.rmtree(spm_work, ignore_errors=True)
        held_path.unlink(missing_ok=True)


def _train_into(op: TrainTokenizer, shards: Callable[[], Iterable[ShardInput]], sample: Sample, tmp: Path,
                held_path: Path, spm_work: Path, clock: _Clock) -> dict[str, Any]:
    from operators.tokenizer.evaluate import evaluate, write_summary
    from operators.tokenizer.hf import train_hf
    from operators.tokenizer.loading import HFTokenizer, SentencePieceTokenizer
    from operators.tokenizer.spm import arrow_normalize, tokenizer_from_sentencepiece, train_sentencepiece

    counts = StreamCounts()
    transform = (arrow_normalize(op.normalization, bool(op.lowercase), bool(op.strip_accents))
                 if op.algorithm == "unigram" else None)

    def training_texts() -> Iterator[list[str]]:
        return stream_training_texts(shards, sample, counts, held_path, transform)

    reference = None
    if op.algorithm in ("bpe", "wordpiece"):
        tok = train_hf(op, training_texts, lambda: stream_training_texts(shards, sample))
        tok.save(str(tmp / "tokenizer.json"))
        handle = HFTokenizer(tmp / "tokenizer.json")
    else:
        native = op.algorithm != "unigram"
        model_path = train_sentencepiece(op, training_texts(), (tmp if native else spm_work) / "tokenizer")
        tokenizer_from_sentencepiece(op, model_path).save(str(tmp / "tokenizer.json"))
        handle = HFTokenizer(tmp / "tokenizer.json")
        if native:
            handle, reference = SentencePieceTokenizer(model_path), handle
    _write_tokenizer_config(op, tmp)
    clock.lap("train")
    held = evaluate(handle, held_out_batches(held_path), reference) if sample.held_out.size else None
    summary = _summary(op, handle, sample, counts, held, tmp)
    summary["files"] = sorted([p.name for p in tmp.iterdir()] + ["summary.json", "summary.md"])
    write_summary(tmp, summary)
    return summary


class _Clock:
    """Wall seconds per phase, and the process's CPU seconds over all of them (`cpu`: every
    thread, so cpu / wall shows how parallel the training was)."""

    def __init__(self, laps: dict[str, float]):
        self.laps = laps
        self.last = time.perf_counter()
        self.cpu_start = time.process_time()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = self.laps.get(name, 0.0) + now - self.last
        self.laps["cpu"] = time.process_time() - self.cpu_start
        self.last = now


def _check_sample(sample: Sample) -> None:
    n_train = (sample.seen_documents - sample.held_out.size) if sample.train is None else sample.train.size
    if n_train <= 0:
        raise ValueError(f"no documents left to train on: {sample.seen_documents} documents in the input, "
                         f"{sample.held_out.size} held out (lower held_out_documents)")


def _summary(op: TrainTokenizer, handle: Any, sample: Sample, counts: StreamCounts, held: dict[str, Any] | None,
             folder: Path) -> dict[str, Any]:
    import sentencepiece
    import tokenizers

    tok_json = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    specials = {t["content"]: t["id"] for t in tok_json.get("added_tokens", []) if t.get("special")}
    return {
        "artifact": op.artifact,
        "algorithm": op.algorithm,
        "vocab_size": handle.vocab_size,
        "vocab_size_requested": op.vocab_size,
        "special_tokens": dict(sorted(specials.items(), key=lambda kv: kv[1])),
        "files": [],
        "training": {"documents": counts.documents, "bytes": counts.bytes, "input_documents": sample.seen_documents,
                     "seed": op.seed, "max_documents": op.max_documents, "max_bytes": op.max_bytes},
        "held_out": held,
        "parameters": op.params(),
        "versions": {"tokenizers": tokenizers.__version__, "sentencepiece": sentencepiece.__version__},
    }


def _write_tokenizer_config(op: TrainTokenizer, folder: Path) -> None:
    specials = list(op.special_tokens or [])
    config: dict[str, Any] = {"tokenizer_class": "PreTrainedTokenizerFast", "clean_up_tokenization_spaces": False}
    if op.unk_token:
        config["unk_token"] = op.unk_token
    for role, names in ROLE_CANDIDATES.items():
        found = next((n for n in names if n in specials), None)
        if found is not None:
            config[role] = found
    if op.algorithm == "wordpiece":
        config["do_lower_case"] = bool(op.lowercase)
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n",
                                                  encoding="utf-8")


def shards_of_table(table: pa.Table, batch_size: int = 1000) -> Callable[[], Iterator[ShardInput]]:
    """One in-memory table as a single shard (for the Python API and tests)."""
    table = as_table(table)

    def batches(columns: list[str] | None) -> Iterator[pa.Table]:
        t = table.select(columns) if columns else table
        yield from (pa.Table.from_batches([b]) for b in t.to_batches(max_chunksize=batch_size))

    return lambda: iter([ShardInput(0, "shard-0", batches)])


def train_on_texts(texts: Iterable[str], out_dir: str | Path, **params: Any) -> dict[str, Any]:
    """Python API: train on a list of texts and write the artifacts to `out_dir`; returns the summary."""
    op = TrainTokenizer(**params)
    table = pa.table({TEXT: pa.array(list(texts), pa.string())})
    table = table.append_column(DOC_KEY, pa.array(range(table.num_rows), pa.int64()))
    with tempfile.TemporaryDirectory(prefix="train_tokenizer-") as work:
        return train_to_folder(op, shards_of_table(table), Path(out_dir), Path(work))
