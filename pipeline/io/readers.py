"""Reading input shards as bounded pyarrow batches, normalized to the pipeline's columns.

Every batch leaving here has `text` (string), `id` (string) and `_doc_key` (int64), plus the
shard's other columns (Parquet) or a `metadata` JSON column (JSONL). Bad records never vanish:
they raise `InputError` naming file, row and field, or are handed to the quarantine callback.
"""

from __future__ import annotations

import gzip
import io
import json
import posixpath
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from operators.base import DOC_KEY, ID, SHARD_BITS, TEXT

SUFFIXES = (".jsonl.gz", ".jsonl.zst", ".json.gz", ".json.zst", ".jsonl", ".json", ".parquet", ".pq")
QUARANTINE_RAW_CHARS = 2000


class InputError(ValueError):
    """A problem with the input, naming where it is."""


@dataclass(frozen=True)
class Shard:
    index: int
    path: str
    name: str

    @property
    def format(self) -> str:
        return "parquet" if self.path.endswith((".parquet", ".pq")) else "jsonl"


@dataclass
class Quarantined:
    file: str
    row: int
    field: str
    reason: str
    raw: str


def _expand(spec_path: str, storage_options: dict[str, Any]) -> list[str]:
    fs, path = fsspec.core.url_to_fs(spec_path, **(storage_options or {}))
    protocol = fs.protocol[0] if isinstance(fs.protocol, tuple) else fs.protocol
    if any(ch in spec_path for ch in "*?["):
        found = sorted(fs.glob(path))
    else:
        if not fs.exists(path):
            raise InputError(f"not found: {spec_path}")
        found = sorted(fs.find(path)) if fs.isdir(path) else [path]
    found = [p for p in found if p.endswith(SUFFIXES)]
    if protocol not in ("file", "local"):
        found = [f"{protocol}://{p}" for p in found]
    return found


def list_shards(spec: Any) -> list[Shard]:
    """Expand the input spec to an ordered list of shards with unique names."""
    raw = spec.path if isinstance(spec.path, list) else [spec.path]
    paths: list[str] = []
    for p in raw:
        try:
            found = _expand(p, spec.storage_options)
        except InputError:
            raise
        except Exception as exc:  # fsspec raises many kinds; name the path in every case
            raise InputError(f"cannot list {p}: {type(exc).__name__}: {exc}") from exc
        if not found:
            raise InputError(f"no .parquet/.jsonl(.gz/.zst) files match {p}")
        paths += [f for f in found if f not in paths]
    if len(paths) >= 1 << (63 - SHARD_BITS):
        raise InputError(f"too many input files ({len(paths)})")
    stems = [_stem(p) for p in paths]
    names = []
    for p, s in zip(paths, stems, strict=True):
        if stems.count(s) > 1:  # same file name in several folders: prefix the parent folders
            parent = posixpath.dirname(p.split("://", 1)[-1]).strip("/").replace("/", "__")
            s = f"{parent}__{s}"
        names.append(s)
    return [Shard(i, p, n) for i, (p, n) in enumerate(zip(paths, names, strict=True))]


def _stem(path: str) -> str:
    base = posixpath.basename(path)
    for suf in SUFFIXES:
        if base.endswith(suf):
            return base[: -len(suf)]
    return base


def _open(path: str, storage_options: dict[str, Any]):
    return fsspec.open(path, "rb", **(storage_options or {})).open()


# ---- Parquet -----------------------------------------------------------------------------


def read_parquet(shard: Shard, spec: Any, quarantine: Callable[[Quarantined], None] | None) -> Iterator[pa.Table]:
    try:
        handle = _open(shard.path, spec.storage_options)
        pf = pq.ParquetFile(handle)
    except FileNotFoundError:
        raise InputError(f"{shard.path}: file not found") from None
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"{shard.path}: not a readable Parquet file (corrupt or truncated?): {exc}") from None
    schema = pf.schema_arrow
    _check_columns(shard.path, schema, spec)
    row = 0
    try:
        for batch in pf.iter_batches(batch_size=spec.batch_size):
            table = pa.Table.from_batches([batch])
            yield from _normalize(table, shard, spec, row, quarantine)
            row += batch.num_rows
        if row == 0:  # an empty shard still yields its (empty) schema, so its output exists
            yield from _normalize(schema.empty_table(), shard, spec, 0, quarantine)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"{shard.path}: unreadable Parquet data after row {row} (corrupt or truncated?): {exc}") from None
    finally:
        handle.close()


def _check_columns(path: str, schema: pa.Schema, spec: Any) -> None:
    names = schema.names
    if spec.text_column not in names:
        raise InputError(f"{path}: no text column {spec.text_column!r} (columns: {', '.join(names)})")
    ttype = schema.field(spec.text_column).type
    if not (pa.types.is_string(ttype) or pa.types.is_large_string(ttype) or pa.types.is_null(ttype)):
        raise InputError(f"{path}: field {spec.text_column!r} has type {ttype}, expected string")
    if spec.id_column and spec.id_column not in names:
        raise InputError(f"{path}: no id column {spec.id_column!r} (columns: {', '.join(names)})")


def _normalize(
    table: pa.Table, shard: Shard, spec: Any, first_row: int, quarantine: Callable[[Quarantined], None] | None
) -> Iterator[pa.Table]:
    """Rename to text/id, add _doc_key, and move rows with null text to quarantine."""
    n = table.num_rows
    keys = (np.int64(shard.index) << np.int64(SHARD_BITS)) + np.arange(first_row, first_row + n, dtype=np.int64)
    text = table.column(spec.text_column)
    if not pa.types.is_string(text.type):
        text = text.cast(pa.string())
    id_source = spec.id_column or (ID if ID in table.column_names else None)
    if id_source:
        ids = table.column(id_source)
        ids = ids if pa.types.is_string(ids.type) else pc.cast(ids, pa.string())
    else:
        ids = pa.array([f"{shard.name}/{r}" for r in range(first_row, first_row + n)], pa.string())
    rest = [c for c in table.column_names if c not in (spec.text_column, id_source, TEXT, ID, DOC_KEY)]
    out = pa.table(
        {TEXT: text, ID: ids, **{c: table.column(c) for c in rest}, DOC_KEY: pa.array(keys)}
    )
    null_ids = ids.null_count if id_source else 0
    bad = pc.or_(pc.is_null(text), pc.is_null(ids)) if null_ids else pc.is_null(text)
    if pc.any(bad).as_py():
        bad_np = bad.to_numpy(zero_copy_only=False) if hasattr(bad, "to_numpy") else np.asarray(bad)
        for i in np.flatnonzero(bad_np):
            field = spec.text_column if text[int(i)].as_py() is None else (id_source or ID)
            record = Quarantined(shard.path, first_row + int(i), field, f"null_{'text' if field == spec.text_column else 'id'}", "")
            if quarantine is None:
                raise InputError(f"{shard.path}: row {record.row}: field {field!r} is null")
            quarantine(record)
        out = out.filter(pc.invert(bad))
    yield out


# ---- JSONL -------------------------------------------------------------------------------


def _jsonl_lines(shard: Shard, spec: Any) -> Iterator[tuple[int, bytes]]:
    try:
        raw = _open(shard.path, spec.storage_options)
    except FileNotFoundError:
        raise InputError(f"{shard.path}: file not found") from None
    path = shard.path
    if path.endswith(".gz"):
        stream: Any = gzip.GzipFile(fileobj=raw)
    elif path.endswith(".zst"):
        import zstandard

        stream = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
    else:
        stream = raw
    line_no = 0
    try:
        for line_no, line in enumerate(io.BufferedReader(stream, buffer_size=1 << 20), start=1):  # type: ignore[arg-type]
            yield line_no, line
    except (EOFError, OSError, gzip.BadGzipFile) as exc:
        raise InputError(f"{path}: compressed stream is corrupt or truncated after line {line_no}: {exc}") from None
    except Exception as exc:
        if type(exc).__name__ == "ZstdError":
            raise InputError(f"{path}: zstd stream is corrupt or truncated after line {line_no}: {exc}") from None
        raise
    finally:
        raw.close()


def read_jsonl(shard: Shard, spec: Any, quarantine: Callable[[Quarantined], None] | None) -> Iterator[pa.Table]:
    texts: list[str] = []
    ids: list[str] = []
    meta: list[str | None] = []
    keys: list[int] = []
    base = shard.index << SHARD_BITS
    id_field = spec.id_column
    seen_row = 0

    def bad(line_no: int, field: str, reason: str, raw: bytes | str) -> None:
        raw_text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        record = Quarantined(shard.path, line_no, field, reason, raw_text[:QUARANTINE_RAW_CHARS])
        if quarantine is None:
            raise InputError(f"{shard.path}: line {line_no}: field {field!r}: {reason}")
        quarantine(record)

    def flush() -> pa.Table:
        t = pa.table(
            {
                TEXT: pa.array(texts, pa.string()),
                ID: pa.array(ids, pa.string()),
                "metadata": pa.array(meta, pa.string()),
                DOC_KEY: pa.array(keys, pa.int64()),
            }
        )
        texts.clear(), ids.clear(), meta.clear(), keys.clear()
        return t

    for line_no, line in _jsonl_lines(shard, spec):
        seen_row = line_no
        if not line.strip():
            continue  # blank lines are layout, not records
        try:
            obj = json.loads(line)
        except UnicodeDecodeError:
            bad(line_no, "<line>", "invalid_utf8", line)
            continue
        except ValueError:
            bad(line_no, "<line>", "invalid_json", line)
            continue
        if not isinstance(obj, dict):
            bad(line_no, "<line>", "not_an_object", line)
            continue
        text = obj.pop(spec.text_column, None) if spec.text_column in obj else _MISSING
        if text is _MISSING:
            bad(line_no, spec.text_column, "missing_field", line)
            continue
        if text is None:
            bad(line_no, spec.text_column, "null_text", line)
            continue
        if not isinstance(text, str):
            bad(line_no, spec.text_column, f"non_string_text ({type(text).__name__})", line)
            continue
        key = id_field or (ID if ID in obj else None)
        if key:
            if key not in obj or obj[key] is None:
                bad(line_no, key, "missing_id", line)
                continue
            doc_id = str(obj.pop(key))
        else:
            doc_id = f"{shard.name}/{line_no - 1}"
        texts.append(text)
        ids.append(doc_id)
        meta.append(json.dumps(obj, ensure_ascii=False, sort_keys=True) if obj else None)
        keys.append(base + line_no - 1)
        if len(texts) >= spec.batch_size:
            yield flush()
    del seen_row
    yield flush()


_MISSING = object()


def read_shard(shard: Shard, spec: Any, quarantine: Callable[[Quarantined], None] | None = None) -> Iterator[pa.Table]:
    """Batches of one shard, normalized; duplicate ids within the shard raise InputError
    (memory: one 64-bit hash per document of the shard)."""
    reader = read_parquet if (spec.format == "parquet" or (spec.format == "auto" and shard.format == "parquet")) else read_jsonl
    seen: set[int] = set()
    import xxhash

    h = xxhash.xxh3_64_intdigest
    for table in reader(shard, spec, quarantine):
        ids = table.column(ID).to_pylist()
        for pos, doc_id in enumerate(ids):
            hv = h(doc_id.encode("utf-8", "surrogatepass"))
            if hv in seen:  # 64-bit hashes: a collision of distinct ids is negligible
                row = int(table.column(DOC_KEY)[pos].as_py()) & ((1 << SHARD_BITS) - 1)
                field = spec.id_column or ID
                raise InputError(f"{shard.path}: row {row}: field {field!r}: duplicate id {doc_id!r}")
            seen.add(hv)
        yield table
