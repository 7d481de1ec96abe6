"""Line-level deduplication across the corpus (`line_dedup`), CCNet style."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, PrivateAttr

from operators.base import DOC_KEY, TEXT, GlobalOperator, ShardInput, Stage, StageContext, StepResult, with_column
from operators.dedup.hashing import PUNCTUATION, hash_strings
from operators.dedup.spill import (
    PartitionedWriter,
    hash_partition,
    read_partition,
    shard_partition,
    shard_rows,
    write_partitioned,
)
from operators.registry import register

LINE_SCHEMA = pa.schema([("hash", pa.uint64()), (DOC_KEY, pa.int64()), ("line", pa.int32())])
REMOVED_SCHEMA = pa.schema([(DOC_KEY, pa.int64()), ("line", pa.int32())])


def split_lines(text: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, np.ndarray]:
    """Lines (split on \\n; a null text has one empty line) and their offsets per document."""
    t = pc.fill_null(text, "")
    if isinstance(t, pa.ChunkedArray):
        t = t.combine_chunks() if t.num_chunks != 1 else t.chunk(0)
    lists = pc.split_pattern(t, "\n")
    offsets = np.asarray(lists.offsets, dtype=np.int64)
    lines = lists.values.slice(int(offsets[0]), int(offsets[-1] - offsets[0])) if len(lists) else lists.values.slice(0, 0)
    return lines, offsets - offsets[0]


def normalize_lines(lines: pa.Array, lowercase: bool, digits: bool, punctuation: bool, accents: bool) -> pa.Array:
    """CCNet's normalization of a paragraph before hashing: lowercase, digits to 0, accents and
    punctuation removed, whitespace collapsed (each switchable)."""
    t = lines
    if accents:
        t = pc.replace_substring_regex(pc.utf8_normalize(t, form="NFD"), r"\p{Mn}", "")
    if lowercase:
        t = pc.utf8_lower(t)
    if digits:
        t = pc.replace_substring_regex(t, r"\d", "0")
    if punctuation:
        t = pc.replace_substring_regex(t, PUNCTUATION, "")
    return pc.utf8_trim_whitespace(pc.replace_substring_regex(t, r"\s+", " "))


@register
class LineDedup(GlobalOperator):
    """Remove every line whose normalized form already appeared earlier in the corpus (corpus
    order: shard, row, line), keeping the first occurrence; counts per document as columns
    `line_dedup_lines_removed` and `line_dedup_chars_removed`. A document left with only blank
    lines is removed (`line_dedup:all_lines_duplicate`).

    CCNet (Wenzek et al., 2020, sec. 3.3) hashes each line (paragraph) after lowercasing,
    replacing digits with 0 and removing punctuation and accents, and drops the repeats; it
    considers every non-empty normalized line, hence `min_line_chars` = 1 by default. Raise it
    to leave short lines ("Thanks!", list bullets) alone.
    """

    name = "line_dedup"
    reasons: ClassVar[tuple[str, ...]] = ('line_dedup:all_lines_duplicate',)
    min_line_chars: int = Field(1, ge=1, description="lines shorter than this after normalization are never removed")
    lowercase: bool = Field(True, description="compare lowercased lines")
    digits_to_zero: bool = Field(True, description="treat every digit as 0")
    strip_punctuation: bool = Field(True, description="ignore Unicode punctuation and symbols")
    strip_accents: bool = Field(True, description="ignore accents (combining marks after NFD)")
    partitions: int = Field(16, ge=1, le=4096, description="hash partitions for the global stage")

    _cache: tuple | None = PrivateAttr(default=None)

    def stages(self) -> list[Stage]:
        return [
            Stage("hash_lines", "shard", self._hash_lines),
            Stage("find_repeats", "partition", self._find_repeats, partitions=self.partitions),
        ]

    def _hash_lines(self, shard: ShardInput, ctx: StageContext) -> None:
        writer = PartitionedWriter(ctx.workdir / "lines", shard.index, self.partitions, LINE_SCHEMA)
        try:
            for batch in shard.batches([TEXT, DOC_KEY]):
                lines, offsets = split_lines(batch.column(TEXT))
                norm = normalize_lines(lines, self.lowercase, self.digits_to_zero, self.strip_punctuation,
                                       self.strip_accents)
                counts = np.diff(offsets)
                doc = np.repeat(batch.column(DOC_KEY).to_numpy(), counts)
                line = (np.arange(len(lines)) - np.repeat(offsets[:-1], counts)).astype(np.int32)
                long_enough = pc.utf8_length(norm).to_numpy(zero_copy_only=False) >= self.min_line_chars
                h = hash_strings(norm)[long_enough]
                writer.write(hash_partition(h, self.partitions), {"hash": h, DOC_KEY: doc[long_enough],
                                                                   "line": line[long_enough]})
            writer.commit()
        except BaseException:
            writer.abort()
            raise

    def _find_repeats(self, q: int, ctx: StageContext) -> None:
        t = read_partition(ctx.workdir / "lines", q, LINE_SCHEMA)
        h = t.column("hash").to_numpy()
        doc = t.column(DOC_KEY).to_numpy()
        line = t.column("line").to_numpy()
        order = np.lexsort((line, doc, h))
        h, doc, line = h[order], doc[order], line[order]
        repeat = np.zeros(len(h), dtype=bool)
        repeat[1:] = h[1:] == h[:-1]
        ctx.metrics["line_dedup:distinct_lines"] += int((~repeat).sum())
        write_partitioned(ctx.workdir / "removed", q, shard_partition(doc[repeat], ctx.num_shards, self.partitions),
                          {DOC_KEY: doc[repeat], "line": line[repeat]}, self.partitions)

    def _removed_of_shard(self, shard_index: int, ctx: StageContext) -> tuple[np.ndarray, np.ndarray]:
        tag = (str(ctx.workdir), shard_index)
        if self._cache is not None and self._cache[0] == tag:
            return self._cache[1]
        t = shard_rows(ctx.workdir / "removed", shard_index, ctx.num_shards, self.partitions, REMOVED_SCHEMA)
        doc = t.column(DOC_KEY).to_numpy()
        line = t.column("line").to_numpy()
        order = np.lexsort((line, doc))
        result = (doc[order], line[order])
        self._cache = (tag, result)
        return result

    def apply_shard(self, table: pa.Table, shard_index: int, ctx: StageContext) -> StepResult:
        removed_doc, removed_line = self._removed_of_shard(shard_index, ctx)
        keys = table.column(DOC_KEY).to_numpy()
        n = len(keys)
        # removals that belong to this batch, as positions in the batch's flat line array
        lo, hi = np.searchsorted(removed_doc, [keys.min(), keys.max() + 1]) if n else (0, 0)
        r_doc, r_line = removed_doc[lo:hi], removed_line[lo:hi]
        row = np.searchsorted(keys, r_doc) if np.all(keys[:-1] < keys[1:]) else _rows_of(keys, r_doc)
        in_batch = (row < n) & (keys[np.minimum(row, max(n - 1, 0))] == r_doc) if n else np.zeros(0, bool)
        row, r_line = row[in_batch], r_line[in_batch]
        lines_removed = np.bincount(row, minlength=n).astype(np.int32)
        text = table.column(TEXT)
        new_text = text
        if len(row):
            lines, offsets = split_lines(text)
            keep = np.ones(len(lines), dtype=bool)
            keep[offsets[row] + r_line] = False
            kept_offsets = np.zeros(len(keep) + 1, dtype=np.int64)
            np.cumsum(keep, out=kept_offsets[1:])
            lists = pa.ListArray.from_arrays(pa.array(kept_offsets[offsets].astype(np.int32)), lines.filter(pa.array(keep)))
            joined = pc.binary_join(lists, "\n")
            changed = lines_removed > 0
            new_text = pc.if_else(pa.array(changed), joined, pc.fill_null(text, ""))
            new_text = pc.if_else(pc.is_null(text), text, new_text)
        old_len = pc.fill_null(pc.utf8_length(text), 0).to_numpy(zero_copy_only=False).astype(np.int64)
        new_len = pc.fill_null(pc.utf8_length(new_text), 0).to_numpy(zero_copy_only=False).astype(np.int64)
        chars_removed = old_len - new_len
        self.add_metric("line_dedup:lines_removed", int(lines_removed.sum()))
        self.add_metric("line_dedup:chars_removed", int(chars_removed.sum()))
        blank = (lines_removed > 0) & ~pc.fill_null(pc.utf8_length(pc.utf8_trim_whitespace(new_text)), 0).to_numpy(
            zero_copy_only=False).astype(bool)
        if blank.any():  # a removed document keeps its original text, for the rejected output
            new_text = pc.if_else(pa.array(blank), text, new_text)
        table = with_column(table, TEXT, new_text if isinstance(new_text, pa.ChunkedArray) else pa.chunked_array([new_text]))
        table = with_column(table, "line_dedup_lines_removed", pa.array(lines_removed, pa.int32()))
        table = with_column(table, "line_dedup_chars_removed", pa.array(chars_removed, pa.int64()))
        reasons = pa.array(np.where(blank, "line_dedup:all_lines_duplicate", None), pa.string())
        return StepResult(table, reasons)


def _rows_of(keys: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Row of each wanted key in an unsorted key column (len(keys) when absent)."""
    order = np.argsort(keys)
    pos = np.searchsorted(keys[order], wanted)
    pos_c = np.minimum(pos, len(keys) - 1)
    return np.where(keys[order][pos_c] == wanted, order[pos_c], len(keys))
