"""SimHash near-duplicate removal (`simhash_dedup`)."""

from __future__ import annotations

from math import comb
from typing import Literal

import numpy as np
import pyarrow as pa
from pydantic import Field, model_validator

from operators.base import DOC_KEY, TEXT, ShardInput, Stage, StageContext
from operators.dedup import clusters
from operators.dedup.components import min_labels
from operators.dedup.hashing import word_windows
from operators.dedup.keep import KeepRule, score_column, write_scores
from operators.dedup.simhash_core import char_windows, close_pairs, simhashes, table_keys, table_masks
from operators.dedup.spill import PartitionedWriter, hash_partition, read_partition
from operators.registry import register

BUCKET_SCHEMA = pa.schema([("key", pa.uint64()), ("hash", pa.uint64()), ("table", pa.int16()), (DOC_KEY, pa.int64())])
MAX_TABLES = 2000


@register
class SimHashDedup(clusters.ClusterStages):
    """Remove near-duplicate documents: 64-bit SimHash of word n-gram shingles, block
    permutation tables for a Hamming-distance threshold, candidates verified by their exact
    distance, connected components, one document kept per component.

    SimHash: bit b is set when more than half of the document's shingle hashes (64-bit hashes
    of `ngram` consecutive words, counted with repetition) have it set (Charikar 2002; Manku et
    al. 2007). Two documents are duplicates when their hashes differ in at most `distance` bits;
    clusters are the connected components of that relation. Tables: the 64 bits are cut into
    `blocks` blocks and each choice of `blocks - distance` blocks keys one table (C(blocks,
    distance) tables), so every pair within the distance shares a key somewhere; pairs sharing
    a key are compared exactly, so there are no false candidates, and the found pairs are all
    the pairs within the distance.

    Text is normalized as in minhash_dedup (lowercase, Unicode punctuation and symbols as
    spaces, optional Unicode form). Documents shorter than `ngram` words are hashed from one
    shingle of all their words; empty documents have no shingles and are never duplicates.
    `shingle: char` uses windows of `ngram` characters instead (for Chinese, Japanese, Thai...),
    with punctuation and symbols deleted and whitespace runs made one space.
    Stages, partitioning and the keep rule are minhash_dedup's: hashes per shard -> table
    buckets per hash partition (spilled to Parquet) -> distance-verified pairs -> connected
    components in partitioned rounds -> cluster sizes and the kept document (the first in
    corpus order, or the highest `keep_column`) -> filter. Same result for any worker count.

    Defaults: Data-Juicer's document_simhash_deduplicator (window 6 words, 6 blocks, distance
    4). Differences from it: Data-Juicer deletes the characters of its `ignore_pattern` (its
    recipes: `\\p{P}`, so "don't" becomes "dont"), here punctuation separates words; its
    shingles drop each document's last window, and documents of at most `window_size` words
    all get the hash 0 and are removed as duplicates of each other; here every window counts
    and short documents are hashed whole.
    """

    name = "simhash_dedup"
    ngram: int = Field(6, ge=1, le=64, description="words (or characters) per shingle (Data-Juicer window_size: 6)")
    shingle: Literal["word", "char"] = Field("word", description="shingles of words, or of characters (for "
                                             "scripts without spaces; Data-Juicer tokenization: character)")
    blocks: int = Field(6, ge=2, le=64, description="blocks the 64 bits are cut into (Data-Juicer num_blocks: 6)")
    distance: int = Field(4, ge=0, le=63, description="maximum Hamming distance of duplicates (Data-Juicer: 4)")
    lowercase: bool = Field(True, description="compare lowercased text")
    strip_punctuation: bool = Field(True, description="treat Unicode punctuation and symbols as spaces")
    unicode_form: Literal["NFC", "NFKC", "NFD", "NFKD"] | None = Field(None, description="Unicode normalization before shingling")

    @model_validator(mode="after")
    def _check_tables(self) -> SimHashDedup:
        if self.distance >= self.blocks:
            raise ValueError(f"distance ({self.distance}) must be smaller than blocks ({self.blocks}): pairs must agree "
                             "on at least one block")
        if comb(self.blocks, self.distance) > MAX_TABLES:
            raise ValueError(f"blocks {self.blocks} and distance {self.distance} need {comb(self.blocks, self.distance)} "
                             f"tables (at most {MAX_TABLES}); use fewer blocks")
        return self

    def stages(self) -> list[Stage]:
        return [
            Stage("hashes", "shard", self._hashes),
            Stage("buckets", "partition", self._buckets, partitions=self.partitions),
            *self._round_stages(),
            Stage("components_finish", "global", self._finish),
            Stage("gather", "partition", self._gather, partitions=self.partitions),
            Stage("resolve", "partition", self._resolve, partitions=self.partitions),
        ]

    # ---- stage 1: SimHash and table keys per shard ----------------------------------------
    def _hashes(self, shard: ShardInput, ctx: StageContext) -> None:
        masks = table_masks(self.blocks, self.distance)
        tables = np.arange(len(masks), dtype=np.int16)
        writer = PartitionedWriter(ctx.workdir / "buckets", shard.index, self.partitions, BUCKET_SCHEMA)
        keep = KeepRule(self.keep_column)
        score_parts = []
        documents = hashed = 0
        try:
            for batch in keep.batches(shard, [TEXT, DOC_KEY]):
                keys = batch.column(DOC_KEY).to_numpy()
                shingles = char_windows if self.shingle == "char" else word_windows
                windows, offsets = shingles(batch.column(TEXT), self.ngram, self.lowercase, self.strip_punctuation,
                                            self.unicode_form)
                has_shingles = np.diff(offsets) > 0
                hashes = simhashes(windows, offsets)[has_shingles]
                bucket = table_keys(hashes, masks).ravel()
                n = len(hashes)
                writer.write(hash_partition(bucket, self.partitions), {
                    "key": bucket, "hash": np.repeat(hashes, len(masks)), "table": np.tile(tables, n),
                    DOC_KEY: np.repeat(keys[has_shingles], len(masks))})
                if keep.column is not None:
                    score_parts.append((keys, score_column(batch, keep.column)))
                documents += len(keys)
                hashed += n
            writer.commit()
        except BaseException:
            writer.abort()
            raise
        if keep.column is not None:
            write_scores(ctx.workdir, shard.index, score_parts)
        ctx.metrics[f"{self.name}:documents_without_shingles"] += documents - hashed

    # ---- stage 2: buckets -> pairs within the distance -------------------------------------
    def _buckets(self, q: int, ctx: StageContext) -> None:
        t = read_partition(ctx.workdir / "buckets", q, BUCKET_SCHEMA)
        u, v, counts = close_pairs(t.column("key").to_numpy(), t.column("hash").to_numpy(),
                                   t.column("table").to_numpy(), t.column(DOC_KEY).to_numpy(), self.distance)
        for k, n in counts.items():
            ctx.metrics[f"{self.name}:{k}"] += n
        ctx.metrics[f"{self.name}:pairs_within_distance"] += len(u) - counts["identical_hash_links"]
        nodes, low = min_labels(u, v)  # contract locally before the partitioned rounds
        cc = self._components(ctx)
        cc.send(cc.inbox(0), q, nodes, low)

    # stages 3-4 and the filter: clusters.ClusterStages (components, keep rule, decide)
