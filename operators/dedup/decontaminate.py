"""Benchmark decontamination (`decontaminate`): documents sharing word n-grams with evaluation
items are removed, or the matching spans are cut out."""

from __future__ import annotations

import glob
import gzip
import io
import json
from pathlib import Path
from typing import IO, Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import Field, PrivateAttr

from operators.base import TEXT, GlobalOperator, Stage, StageContext, StepResult, atomic_write_table, with_column
from operators.dedup.hashing import Words, window_hashes, words
from operators.dedup.spill import write_json
from operators.registry import register
from operators.workfiles import read_parquet
from storage import files as storage_files

INDEX_SCHEMA = pa.schema([("hash", pa.uint64()), ("benchmark", pa.int32())])
SUFFIXES = (".jsonl.gz", ".jsonl.zst", ".jsonl", ".json.gz", ".json", ".parquet")


def benchmark_name(path: str) -> str:
    base = Path(path).name
    for suf in SUFFIXES:
        if base.endswith(suf):
            return base[: -len(suf)]
    return base


def benchmark_files(pattern: str) -> list[str]:
    """The benchmark files a path or glob names, on local disk or at a URL (`s3://...`, any fsspec
    store; credentials from the usual environment), sorted; an error when there are none."""
    found = _glob(pattern) if any(c in pattern for c in "*?[") else [pattern]
    found = [f for f in found if f.endswith(SUFFIXES)]
    if not found or not all(_is_file(f) for f in found):
        raise FileNotFoundError(f"decontaminate: no benchmark file matches {pattern!r}")
    return found


def _glob(pattern: str) -> list[str]:
    if not storage_files.is_url(pattern):
        return sorted(glob.glob(pattern))
    fs, inner = storage_files.filesystem(pattern)
    scheme = pattern.split("://", 1)[0]
    return sorted(f"{scheme}://{p}" for p in fs.glob(inner))


def _is_file(path: str) -> bool:
    if not storage_files.is_url(path):
        return Path(path).is_file()
    fs, inner = storage_files.filesystem(path)
    return bool(fs.isfile(inner))


def _text_reader(path: str, raw: IO[bytes]) -> io.TextIOWrapper:
    """Lines of a JSONL file, decompressed by its suffix (.gz, .zst)."""
    if path.endswith(".gz"):
        return io.TextIOWrapper(gzip.GzipFile(fileobj=raw, mode="rb"), encoding="utf-8")
    if path.endswith(".zst"):
        import zstandard

        return io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(raw, closefd=False), encoding="utf-8")
    return io.TextIOWrapper(raw, encoding="utf-8")


def read_benchmark(path: str, field: str) -> list[str]:
    """The `field` of every item of a JSONL(.gz/.zst) or Parquet file (a path or a URL); a missing
    or non-string field is an error naming file, line and field."""
    if path.endswith(".parquet"):
        with storage_files.open_input(path) as raw:
            table = pq.read_table(raw)
        if field not in table.column_names:
            raise ValueError(f"{path}: no field {field!r} (columns: {', '.join(table.column_names)})")
        values = table.column(field).to_pylist()
        bad = next((i for i, v in enumerate(values) if not isinstance(v, str)), None)
        if bad is not None:
            raise ValueError(f"{path}: row {bad}: field {field!r} is not a string")
        return values
    out = []
    with storage_files.open_input(path) as raw, _text_reader(path, raw) as handle:
        for line_no, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}: line {line_no}: not valid JSON: {exc}") from None
            value = item.get(field) if isinstance(item, dict) else None
            if not isinstance(value, str):
                raise ValueError(f"{path}: line {line_no}: field {field!r} missing or not a string")
            out.append(value)
    return out


@register
class Decontaminate(GlobalOperator):
    """Find documents that share a word n-gram with any benchmark item and remove them
    (`mode: remove`, reason `decontaminate:<benchmark>`) or cut the matching spans out
    (`mode: cut`; a document left without any letter or digit is removed). Per-benchmark counts land in stats.json:
    `decontaminate:<benchmark>:documents` (documents matched), `...:items` (items indexed),
    `...:items_too_short`; in cut mode also `decontaminate:spans_cut` and `decontaminate:chars_cut`.
    Each document gets `decontaminate_matches`, its number of matching n-grams.

    Text is compared after lowercasing and turning punctuation and symbols into spaces, so case
    and punctuation edits do not hide a match. GPT-3 (Brown et al., 2020, appendix C) flags
    overlap of 13-grams and, for items shorter than that, uses the item's length down to 8
    words: an item of `min_item_words` to `ngram - 1` words matches as a whole; shorter items
    are not indexed (counted as items_too_short).
    """

    name = "decontaminate"
    benchmarks: list[str] = Field(description="benchmark files or globs (JSONL, JSONL.gz/.zst, Parquet); name = file stem")
    text_field: str = Field("text", description="field of a benchmark item holding its text")
    ngram: int = Field(13, ge=1, le=64, description="words per n-gram")
    min_item_words: int = Field(8, ge=1, description="shorter benchmark items are not indexed")
    mode: Literal["remove", "cut"] = Field("remove", description="remove the document, or cut the matching spans")

    _index: tuple | None = PrivateAttr(default=None)

    def _files(self) -> list[str]:
        files: list[str] = []
        for pattern in self.benchmarks:
            files += [f for f in benchmark_files(pattern) if f not in files]
        names = [benchmark_name(f) for f in files]
        if len(set(names)) != len(names):
            raise ValueError(f"decontaminate: two benchmark files share a name: {names}")
        return files

    def setup(self) -> None:
        if self.min_item_words > self.ngram:
            raise ValueError("min_item_words must be <= ngram")
        self._files()

    def stages(self) -> list[Stage]:
        return [Stage("index_benchmarks", "global", self._build_index)]

    def _build_index(self, ctx: StageContext) -> None:
        files = self._files()
        hashes, owners, short_lengths = [], [], set()
        names = [benchmark_name(f) for f in files]
        for b, (path, name) in enumerate(zip(files, names)):
            items = read_benchmark(path, self.text_field)
            w = words(pa.array(items, pa.string()))
            wh, offsets = w.hashes, w.offsets
            lengths = np.diff(offsets)
            usable = lengths >= self.min_item_words
            ctx.metrics[f"decontaminate:{name}:items"] += int(usable.sum())
            ctx.metrics[f"decontaminate:{name}:items_too_short"] += int((~usable).sum())
            windows, win_offsets = window_hashes(wh, offsets, self.ngram)
            per_item = np.diff(win_offsets)
            windows = windows[np.repeat(usable, per_item)]
            short_lengths |= set(lengths[usable & (lengths < self.ngram)].tolist())
            hashes.append(windows)
            owners.append(np.full(len(windows), b, dtype=np.int32))
        h = np.concatenate(hashes) if hashes else np.zeros(0, np.uint64)
        o = np.concatenate(owners) if owners else np.zeros(0, np.int32)
        table = pa.table({"hash": h, "benchmark": o}, schema=INDEX_SCHEMA)
        table = table.group_by(["hash", "benchmark"]).aggregate([]).sort_by([("hash", "ascending"), ("benchmark", "ascending")])
        atomic_write_table(table, ctx.workdir / "ngrams.parquet")
        write_json(ctx.workdir / "benchmarks.json", {"names": names, "short_lengths": sorted(int(k) for k in short_lengths)})

    def _load(self, ctx: StageContext) -> tuple[np.ndarray, np.ndarray, list[str], list[int]]:
        tag = str(ctx.workdir)
        if self._index is None or self._index[0] != tag:
            t = read_parquet(ctx.workdir / "ngrams.parquet")
            info = (ctx.workdir / "benchmarks.json").read_json()
            hashes = t.column("hash").to_numpy()
            self._index = (tag, (hashes, t.column("benchmark").to_numpy(), info["names"], info["short_lengths"]),
                           _Prefilter(hashes))
        return self._index[1]

    def apply_shard(self, table: pa.Table, shard_index: int, ctx: StageContext) -> StepResult:
        index_hash, index_bench, names, short_lengths = self._load(ctx)
        prefilter = self._index[2]
        n = table.num_rows
        tokens = words(table.column(TEXT))
        wh, offsets = tokens.hashes, tokens.offsets
        matches = np.zeros(n, dtype=np.int32)
        benches = np.zeros((n, len(names)), dtype=bool)
        covered = np.zeros(len(wh), dtype=np.int32) if self.mode == "cut" else None  # +1 at a span start, -1 after its end
        for k in [self.ngram, *short_lengths]:
            windows, win_offsets = window_hashes(wh, offsets, k)
            maybe = np.flatnonzero(prefilter.may_contain(windows))
            pos = np.zeros(len(windows), dtype=np.int64)
            pos[maybe] = np.searchsorted(index_hash, windows[maybe])
            hit = np.zeros(len(windows), dtype=bool)
            if len(index_hash):
                hit[maybe] = index_hash[np.minimum(pos[maybe], len(index_hash) - 1)] == windows[maybe]
            if not hit.any():
                continue
            counts = np.diff(win_offsets)
            win_doc = np.repeat(np.arange(n), counts)
            hit_idx = np.flatnonzero(hit)
            np.add.at(matches, win_doc[hit_idx], 1)
            # every benchmark holding a matched hash (the index is sorted by hash, then benchmark)
            lo = pos[hit_idx]
            hi = np.searchsorted(index_hash, windows[hit_idx], side="right")
            for d, a, b in zip(win_doc[hit_idx], lo, hi):
                benches[d, index_bench[a:b]] = True
            if covered is not None:
                start_word = offsets[win_doc[hit_idx]] + (hit_idx - win_offsets[win_doc[hit_idx]])
                end_word = np.minimum(start_word + k, offsets[win_doc[hit_idx] + 1])
                np.add.at(covered, start_word, 1)
                np.add.at(covered, end_word[end_word < len(covered)], -1)
        contaminated = matches > 0
        for b, name in enumerate(names):
            self.add_metric(f"decontaminate:{name}:documents", int(benches[:, b].sum()))
        first_bench = np.argmax(benches, axis=1)
        reason_names = np.array([f"decontaminate:{name}" for name in names] or ["decontaminate:"], dtype=object)
        remove = contaminated.copy()
        if self.mode == "cut" and contaminated.any():
            in_span = np.cumsum(covered) > 0
            table, remove = self._cut(table, tokens, in_span, contaminated)
        reasons = np.where(remove, reason_names[first_bench], None)
        table = with_column(table, "decontaminate_matches", pa.array(matches, pa.int32()))
        return StepResult(table, pa.array(reasons, pa.string()))

    def _cut(self, table: pa.Table, tokens: Words, in_span: np.ndarray, contaminated: np.ndarray) -> tuple[pa.Table, np.ndarray]:
        """Cut the matched word spans out of each contaminated document's original text.
        Lowercasing maps each code point to one code point, so character positions found in the
        lowercased text are positions in the original."""
        texts = table.column(TEXT).to_pylist()
        lowered = tokens.text
        remove = np.zeros(len(texts), dtype=bool)
        spans = chars = 0
        for d in np.flatnonzero(contaminated):
            lo, hi = tokens.offsets[d], tokens.offsets[d + 1]
            low = lowered[d].as_py()
            raw = low.encode("utf-8")
            if len(low) != len(texts[d]):
                remove[d] = True  # cannot place the spans exactly: remove rather than guess
                self.add_metric("decontaminate:cut_fallback_removed", 1)
                continue
            # character index of every byte position of the document
            char_at = np.concatenate([[0], np.cumsum((np.frombuffer(raw, np.uint8) & 0xC0) != 0x80)])
            base = tokens.doc_bytes[d]
            starts = char_at[tokens.starts[lo:hi] - base]
            ends = char_at[tokens.ends[lo:hi] - base]
            flags = in_span[lo:hi]
            pieces, last, i = [], 0, 0
            while i < len(flags):
                if not flags[i]:
                    i += 1
                    continue
                j = i
                while j + 1 < len(flags) and flags[j + 1]:
                    j += 1
                pieces.append(texts[d][last:starts[i]])
                last = int(ends[j])
                spans += 1
                chars += int(ends[j] - starts[i])
                i = j + 1
            pieces.append(texts[d][last:])
            cut = "".join(pieces)
            if any(c.isalnum() for c in cut):
                texts[d] = cut
            else:
                remove[d] = True  # nothing left: remove the document, keeping its text for the rejected output
        self.add_metric("decontaminate:spans_cut", spans)
        self.add_metric("decontaminate:chars_cut", chars)
        new_text = pa.chunked_array([pa.array(texts, pa.string())])
        return with_column(table, TEXT, new_text), remove


class _Prefilter:
    """One flag per value of a hash's top bits, about 16 slots per indexed n-gram: most
    windows of a clean document miss, and only the few that hit are binary-searched."""

    def __init__(self, hashes: np.ndarray):
        self.bits = int(min(28, max(16, np.ceil(np.log2(max(len(hashes), 1) * 16)))))
        self.flags = np.zeros(1 << self.bits, dtype=bool)
        self.flags[self._slot(hashes)] = True

    def _slot(self, hashes: np.ndarray) -> np.ndarray:
        return (hashes >> np.uint64(64 - self.bits)).astype(np.int64)

    def may_contain(self, hashes: np.ndarray) -> np.ndarray:
        return self.flags[self._slot(hashes)]
