"""The `tokenize` step: token files a trainer's data loader reads, from the cleaned corpus.

Stages (see operators/base.py for how the executor runs them):
  encode (per shard)  tokenize the shard's documents (EOS appended, BOS prepended if asked) into
                      `_work/.../tokens/<shard>.bin`, and one record per document copy (shuffle
                      key, split key, where its tokens are) into key-range partitions;
  write (once)        read the partitions in key order (each one sorted in memory: memory is the
                      records of one partition, never the corpus), copy every document's tokens
                      into the output files in that order, write tokens.json, drop the work files.
The order depends only on the ids, the seed and the `mix_copies` column, so files are identical
whatever the worker count, the file size or the executor.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import OrderedDict
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, PrivateAttr, model_validator

from operators.base import ARTIFACT_PREFIX, DOC_KEY, ID, GlobalOperator, ShardInput, Stage, StageContext, texts
from operators.dedup.spill import PartitionedWriter, hash_partition, read_partition, shard_partition
from operators.registry import register
from operators.tokens import keys as K
from operators.tokens.packing import SplitWriter
from operators.workfiles import download, file_names, has_files, load_npy, save_npy
from storage import files
from storage.location import Location

MANIFEST = "tokens.json"
MANIFEST_FORMAT = "pipeline_tokens/1"
COPIES = "mix_copies"
RECORDS = pa.schema([("key", pa.uint64()), ("split_key", pa.uint64()), (DOC_KEY, pa.int64()), ("copy", pa.int32()),
                     ("offset", pa.int64()), ("length", pa.int64()), ("id", pa.string()), ("source", pa.string())])
OPEN_FILES = 128  # token files of shards kept open at once while writing


@register
class Tokenize(GlobalOperator):
    """Tokenize every document into training files: Megatron-LM `.bin`/`.idx` and/or Parquet
    `input_ids`, globally shuffled by a seeded key of the id, with an optional validation split
    held out by id hash, and a `tokens.json` manifest (files, documents and tokens per file and
    per source, tokenizer hash), in `<output>/artifacts/<artifact>/`.

    EOS is appended to every document (BOS prepended when `add_bos`); their ids come from the
    tokenizer (`eos_token`/`bos_token`, else tokenizer_config.json, else the usual names). Token
    dtype: uint16 when every id fits, else int32. A `mix_copies` column (from `mix`) repeats a
    document that many times, each copy at its own shuffled position; a held-out document is
    written once. Keeps every row.
    """

    name = "tokenize"

    tokenizer: str = Field(description="tokenizer.json, a SentencePiece .model, a folder holding one, or "
                                       "artifact:<name> (trained earlier in this recipe)")
    formats: list[Literal["megatron", "parquet"]] = Field(["megatron"], min_length=1,
                                                          description="megatron (.bin/.idx) and/or parquet (input_ids)")
    artifact: str = Field("tokens", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
                          description="folder name under the run's artifacts/")
    eos_token: str | None = Field(None, description="end-of-document token (null: from the tokenizer)")
    add_bos: bool = Field(False, description="also put a beginning-of-document token before each document")
    bos_token: str | None = Field(None, description="beginning-of-document token (null: from the tokenizer)")
    shuffle: bool = Field(True, description="shuffle documents across all shards by a seeded key (false: corpus order)")
    seed: int = Field(0, ge=0, description="seed of the shuffle and of the validation split")
    validation_fraction: float | None = Field(None, gt=0, lt=1, description="share of documents held out by id hash")
    validation_documents: int | None = Field(None, ge=1, description="number of documents held out by id hash")
    max_tokens_per_file: int = Field(1_000_000_000, ge=1, description="start a new file past this many tokens")
    partitions: int = Field(16, ge=1, le=4096, description="key-range partitions of the shuffle (memory of the "
                                                           "write stage: one partition's records)")
    source_column: str | None = Field("source", description="count documents and tokens per value of this column "
                                                            "(in tokens.json, and a column of the Parquet files)")

    _encoder: Any = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _check(self) -> Tokenize:
        if len(set(self.formats)) != len(self.formats):
            raise ValueError("formats: each format at most once")
        if self.validation_fraction is not None and self.validation_documents is not None:
            raise ValueError("give validation_fraction or validation_documents, not both")
        local = not self.tokenizer.startswith(ARTIFACT_PREFIX) and not files.is_url(self.tokenizer)
        if local and not Path(self.tokenizer).expanduser().exists():
            raise ValueError(f"tokenizer not found: {self.tokenizer}")
        return self

    def setup(self) -> None:
        from operators.tokens.encoding import TokenEncoder

        self._encoder = TokenEncoder(self.resolve_path(self.tokenizer), self.eos_token, self.bos_token, self.add_bos)

    def stages(self) -> list[Stage]:
        return [Stage("encode", "shard", self._encode_shard), Stage("write", "global", self._write)]

    # ---- encode ------------------------------------------------------------------------------
    def _encode_shard(self, shard: ShardInput, ctx: StageContext) -> None:
        enc = self._encoder
        bin_path = ctx.workdir / "tokens" / f"{shard.index:06d}.bin"
        records = PartitionedWriter(ctx.workdir / "records", shard.index, self.partitions, RECORDS)
        split_keys: list[np.ndarray] = []
        offset = 0
        bin_file = files.AtomicFile(bin_path)
        try:
            with bin_file.handle as out:
                for batch in shard.batches(None):
                    if batch.num_rows == 0:
                        continue
                    encoded = enc.encode(texts(batch))
                    out.write(encoded.tokens.tobytes())
                    starts = offset + np.cumsum(encoded.lengths) - encoded.lengths
                    offset += len(encoded.tokens)
                    cols, split_key = self._records(batch, starts, encoded.lengths)
                    dest = (hash_partition(cols["key"], self.partitions) if self.shuffle
                            else shard_partition(cols[DOC_KEY], ctx.num_shards, self.partitions))
                    records.write(dest, cols)
                    split_keys.append(split_key)
            records.commit()
        except BaseException:
            records.abort()
            bin_file.abort()
            raise
        bin_file.commit()
        if self.validation_documents is not None:
            # this shard's candidates for the held-out set: its smallest split keys
            smallest = np.sort(np.concatenate(split_keys) if split_keys else np.zeros(0, np.uint64))
            save_npy(ctx.workdir / "split" / f"{shard.index:06d}.npy", smallest[:self.validation_documents])

    def _records(self, batch: pa.Table, starts: np.ndarray, lengths: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        ids = batch.column(ID)
        n = batch.num_rows
        copies = np.ones(n, dtype=np.int64)
        if COPIES in batch.column_names:
            copies = pc.fill_null(batch.column(COPIES), 0).to_numpy().astype(np.int64)
        doc = np.repeat(np.arange(n), copies)
        copy = np.arange(len(doc)) - np.repeat(np.cumsum(copies) - copies, copies)
        doc_keys = batch.column(DOC_KEY).to_numpy()
        if self.shuffle:
            key = K.copy_keys(K.id_keys(ids, self.seed, K.SHUFFLE)[doc], copy)
        else:  # corpus order: partitions hold runs of shards, sorted by document key, then copy
            key = doc_keys[doc].astype(np.uint64)
        split_key = K.id_keys(ids, self.seed, K.SPLIT)
        source = np.full(n, None, dtype=object)
        if self.source_column and self.source_column in batch.column_names:
            source = np.array(batch.column(self.source_column).cast(pa.string()).to_pylist(), dtype=object)
        cols = {"key": key, "split_key": split_key[doc], DOC_KEY: doc_keys[doc], "copy": copy.astype(np.int32),
                "offset": starts[doc], "length": lengths[doc],
                "id": np.array(ids.cast(pa.string()).to_pylist(), dtype=object)[doc], "source": source[doc]}
        return cols, split_key[copies > 0]

    # ---- write -------------------------------------------------------------------------------
    def _out_dir(self, ctx: StageContext) -> Location:
        if ctx.artifacts is None:
            raise RuntimeError("tokenize: the executor gave no artifacts folder")
        return ctx.artifacts / self.artifact

    def _write(self, ctx: StageContext) -> None:
        out = self._out_dir(ctx)
        manifest_path = out / MANIFEST
        if manifest_path.exists() and not has_files(ctx.workdir / "records"):
            return  # written by an attempt killed after it finished but before its completion mark
        out.mkdir()
        for old in out.list_names():  # an interrupted attempt's files: ours by name, rewritten below
            if old == MANIFEST or old.startswith(("train_", "validation_", ".train_", ".validation_")):
                (out / old).delete()
        limit = self._validation_limit(ctx)
        splits = ["train"] + (["validation"] if limit is not None else [])
        writers = {name: SplitWriter(out, name, list(self.formats), self._encoder.dtype, self.max_tokens_per_file,
                                     self.source_column) for name in splits}
        try:
            self._copy_in_order(ctx, writers, limit)
            splits = {name: w.close() for name, w in writers.items()}
        except BaseException:
            for w in writers.values():
                w.abort()
            raise
        files.write_text(manifest_path, json.dumps(self._manifest(splits, ctx), indent=2, sort_keys=True) + "\n")
        for name in ("records", "tokens", "split"):
            (ctx.workdir / name).delete()
        for name, s in splits.items():
            ctx.metrics[f"tokenize:{name}_documents"] += s["documents"]
            ctx.metrics[f"tokenize:{name}_tokens"] += s["tokens"]
        ctx.metrics["tokenize:tokens"] += sum(s["tokens"] for s in splits.values())
        ctx.metrics["tokenize:files"] += sum(len(s["files"]) for s in splits.values())

    def _validation_limit(self, ctx: StageContext) -> int | None:
        """Documents whose split key is <= this value are held out (None: no validation split)."""
        if self.validation_fraction is not None:
            return K.fraction_threshold(self.validation_fraction) - 1
        if self.validation_documents is None:
            return None
        folder = ctx.workdir / "split"
        found = [load_npy(folder / name) for name in file_names(folder, suffix=".npy")]
        keys = np.sort(np.concatenate(found)) if found else np.zeros(0, np.uint64)
        if len(keys) == 0:
            return -1
        return int(keys[min(self.validation_documents, len(keys)) - 1])

    def _copy_in_order(self, ctx: StageContext, writers: dict[str, SplitWriter], limit: int | None) -> None:
        files = _ShardFiles(ctx.workdir / "tokens", self._encoder.dtype.itemsize)
        try:
            for p in range(self.partitions):
                t = read_partition(ctx.workdir / "records", p, RECORDS)
                if t.num_rows == 0:
                    continue
                order = np.lexsort((t.column("copy").to_numpy(), t.column(DOC_KEY).to_numpy(),
                                    t.column("key").to_numpy()))
                t = t.take(order)
                held = np.zeros(t.num_rows, dtype=bool)
                if limit is not None and limit >= 0:
                    held = t.column("split_key").to_numpy() <= np.uint64(limit)
                first_copy = t.column("copy").to_numpy() == 0
                shards = (t.column(DOC_KEY).to_numpy() >> 40).tolist()
                rows = zip(shards, t.column("offset").to_pylist(), t.column("length").to_pylist(),
                           t.column("id").to_pylist(), t.column("source").to_pylist(), held.tolist(), first_copy.tolist())
                train = writers["train"]
                validation = writers.get("validation")
                for shard, offset, length, doc_id, source, is_held, is_first in rows:
                    if is_held:
                        if is_first and validation is not None:
                            validation.add(files.read(shard, offset, length), length, doc_id, source)
                        continue  # a held-out document is written once
                    train.add(files.read(shard, offset, length), length, doc_id, source)
        finally:
            files.close()

    def _manifest(self, splits: dict[str, Any], ctx: StageContext) -> dict[str, Any]:
        enc = self._encoder
        return {
            "format": MANIFEST_FORMAT,
            "tokenizer": {"path": str(enc.path), "sha256": enc.sha256, "max_id": enc.max_id, "eos_id": enc.eos_id,
                          "bos_id": enc.bos_id},
            "dtype": enc.dtype.name,
            "formats": list(self.formats),
            "shuffle": {"enabled": self.shuffle, "seed": self.seed},
            "validation": {"fraction": self.validation_fraction, "documents": self.validation_documents},
            "source_column": self.source_column,
            "input_shards": ctx.num_shards,
            "documents": sum(s["documents"] for s in splits.values()),
            "tokens": sum(s["tokens"] for s in splits.values()),
            "splits": splits,
        }


class _ShardFiles:
    """Reads one document's tokens from a shard's token file (a bounded number kept open). Token
    files on an object store are downloaded once each, when first needed, to a local temporary
    folder deleted on `close()` (reading a document per request would cost one request each)."""

    def __init__(self, folder: Location, itemsize: int):
        self.folder = folder
        self.itemsize = itemsize
        self._open: OrderedDict[int, int] = OrderedDict()
        self._local = None if not folder.is_remote else tempfile.TemporaryDirectory(prefix="tokenize-")

    def _path(self, shard: int) -> Path:
        name = f"{shard:06d}.bin"
        if self._local is None:
            return self.folder.path / name
        local = Path(self._local.name) / name
        return local if local.exists() else download(self.folder / name, local)

    def read(self, shard: int, offset: int, length: int) -> bytes:
        fd = self._open.get(shard)
        if fd is None:
            if len(self._open) >= OPEN_FILES:
                os.close(self._open.popitem(last=False)[1])
            fd = self._open[shard] = os.open(self._path(shard), os.O_RDONLY)
        else:
            self._open.move_to_end(shard)
        size = length * self.itemsize
        data = os.pread(fd, size, offset * self.itemsize)
        if len(data) != size:
            raise RuntimeError(f"token file of shard {shard} is shorter than its records say")
        return data

    def close(self) -> None:
        for fd in self._open.values():
            os.close(fd)
        self._open.clear()
        if self._local is not None:
            self._local.cleanup()
