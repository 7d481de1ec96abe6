"""Reading input shards as bounded pyarrow batches, normalized to the pipeline's columns.

Every batch leaving here has `text` (string), `id` (string) and `_doc_key` (int64), plus the
shard's other columns (Parquet) or a `metadata` JSON column (JSONL). Bad records never vanish:
they raise `InputError` naming file, row and field, or are handed to the quarantine callback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.io.jsonl import QUARANTINE_RAW_CHARS, read_jsonl
from pipeline.io.pieces import Piece, is_parquet
from pipeline.io.shards import InputError, Quarantined, Shard, list_shards, open_input
from storage.columns import DOC_KEY, ID, SHARD_BITS, TEXT

__all__ = ["InputError", "Piece", "Quarantined", "Shard", "check_piece_ids", "list_shards", "read_jsonl", "read_parquet",
           "read_shard"]


# ---- Parquet -----------------------------------------------------------------------------


def read_parquet(shard: Shard, spec: Any, quarantine: Callable[[Quarantined], None] | None,
                 piece: Piece | None = None) -> Iterator[pa.Table]:
    try:
        handle = open_input(shard.path, spec.storage_options)
        pf = pq.ParquetFile(handle)
    except FileNotFoundError:
        raise InputError(f"{shard.path}: file not found") from None
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"{shard.path}: not a readable Parquet file (corrupt or truncated?): {exc}") from None
    schema = pf.schema_arrow
    _check_columns(shard.path, schema, spec)
    row = first = piece.first_row if piece else 0
    groups = range(*piece.row_groups) if piece and piece.row_groups else None
    try:
        for batch in pf.iter_batches(batch_size=spec.batch_size, row_groups=groups):
            table = pa.Table.from_batches([batch])
            yield from _normalize(table, shard, spec, row, quarantine)
            row += batch.num_rows
        if row == first:  # an empty shard still yields its (empty) schema, so its output exists
            yield from _normalize(schema.empty_table(), shard, spec, first, quarantine)
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
    id_source = spec.id_column or (ID if ID in names else None)
    if id_source:
        itype = schema.field(id_source).type
        if not (pa.types.is_string(itype) or pa.types.is_large_string(itype) or pa.types.is_integer(itype)
                or pa.types.is_null(itype)):
            raise InputError(f"{path}: field {id_source!r} has type {itype}, expected string or integer")
    # the pipeline's own column names: another input column under one of them would be lost
    if DOC_KEY in names:
        raise InputError(f"{path}: column {DOC_KEY!r} is reserved for the pipeline; rename it")
    if TEXT in names and TEXT != spec.text_column:
        raise InputError(f"{path}: column {TEXT!r} is reserved for the text while text_column is "
                         f"{spec.text_column!r}; rename it or choose it as text_column")
    if ID in names and ID != id_source:
        raise InputError(f"{path}: column {ID!r} is reserved for the document id while id_column is "
                         f"{id_source!r}; rename it or choose it as id_column")


def _normalize(
    table: pa.Table, shard: Shard, spec: Any, first_row: int, quarantine: Callable[[Quarantined], None] | None
) -> Iterator[pa.Table]:
    """Rename to text/id, add _doc_key, and move rows with null text or id, or invalid UTF-8 in
    any column, to quarantine."""
    n = table.num_rows
    keys = (np.int64(shard.index) << np.int64(SHARD_BITS)) + np.arange(first_row, first_row + n, dtype=np.int64)
    id_source = spec.id_column or (ID if ID in table.column_names else None)
    problems = _row_problems(table, spec.text_column, id_source)
    if problems:  # before any cast: casting could fail on the bad bytes
        for i, (field, reason, raw) in sorted(problems.items()):
            record = Quarantined(shard.path, first_row + i, field, reason, raw)
            if quarantine is None:
                what = " is null" if reason.startswith("null_") else f": {reason}"
                raise InputError(f"{shard.path}: row {record.row}: field {field!r}{what}")
            quarantine(record)
        keep = np.ones(n, dtype=bool)
        keep[list(problems)] = False
        table = table.filter(pa.array(keep))
        keys = keys[keep]
    text = table.column(spec.text_column)
    if not pa.types.is_string(text.type):
        text = text.cast(pa.string())
    if id_source:
        ids = table.column(id_source)
        ids = ids if pa.types.is_string(ids.type) else pc.cast(ids, pa.string())
    else:
        rows = keys & np.int64((1 << SHARD_BITS) - 1)
        ids = pa.array([f"{shard.name}/{r}" for r in rows.tolist()], pa.string())
    rest = [c for c in table.column_names if c not in (spec.text_column, id_source)]
    yield pa.table({TEXT: text, ID: ids, **{c: table.column(c) for c in rest}, DOC_KEY: pa.array(keys)})


def _row_problems(table: pa.Table, text_column: str, id_source: str | None) -> dict[int, tuple[str, str, str]]:
    """row -> (field, reason, raw) for null text, null id and invalid UTF-8 (Parquet does not check it)."""
    problems: dict[int, tuple[str, str, str]] = {}
    for field, reason in ((text_column, "null_text"), (id_source, "null_id")):
        column = table.column(field) if field else None
        if column is None or not column.null_count:  # the usual case, without a pass over the rows
            continue
        for i in np.flatnonzero(pc.is_null(column).combine_chunks().to_numpy(zero_copy_only=False)):
            problems.setdefault(int(i), (field, reason, ""))
    for name in table.column_names:
        col = table.column(name)
        try:
            col.validate(full=True)
            continue
        except pa.ArrowInvalid:
            pass
        for i in range(len(col)):  # the slow path, only for a column holding bad values
            try:
                col.slice(i, 1).validate(full=True)
            except pa.ArrowInvalid as exc:
                reason = "invalid_utf8" if "utf8" in str(exc).lower() else "invalid_value"
                problems.setdefault(i, (name, reason, _raw_value(col, i)))
    return problems


def _raw_value(col: pa.ChunkedArray, i: int) -> str:
    if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        return ""
    value = col.slice(i, 1).cast(pa.large_binary())[0].as_py()
    return value.decode("utf-8", "replace")[:QUARANTINE_RAW_CHARS] if value is not None else ""


def read_shard(shard: Shard, spec: Any, quarantine: Callable[[Quarantined], None] | None = None,
               piece: Piece | None = None, id_hashes: list[np.ndarray] | None = None) -> Iterator[pa.Table]:
    """Batches of one shard (or of one piece of it), normalized; duplicate ids within what is
    read raise InputError (memory: one 64-bit hash per document). `id_hashes` collects each
    batch's id hashes, for the check across the pieces of a file (`check_piece_ids`)."""
    reader = read_parquet if is_parquet(shard, spec) else read_jsonl
    seen: set[int] = set()
    import xxhash

    h = xxhash.xxh3_64_intdigest
    for table in reader(shard, spec, quarantine, piece):
        ids = table.column(ID).to_pylist()
        hashes = np.empty(len(ids), np.uint64)
        for pos, doc_id in enumerate(ids):
            hv = hashes[pos] = h(doc_id.encode("utf-8", "surrogatepass"))
            if hv in seen:  # 64-bit hashes: a collision of distinct ids is negligible
                row = int(table.column(DOC_KEY)[pos].as_py()) & ((1 << SHARD_BITS) - 1)
                field = spec.id_column or ID
                raise InputError(f"{shard.path}: row {row}: field {field!r}: duplicate id {doc_id!r}")
            seen.add(hv)
        if id_hashes is not None:
            id_hashes.append(hashes)
        yield table


def check_piece_ids(shard: Shard, spec: Any, id_hashes: list[np.ndarray]) -> None:
    """The pieces of a file each checked their own ids; an id in two of them is found here, and
    the file is read again to report it exactly as a whole-file read does (file, row, field, id)."""
    hashes = np.sort(np.concatenate(id_hashes)) if id_hashes else np.empty(0, np.uint64)
    if not np.any(hashes[1:] == hashes[:-1]):
        return
    for _ in read_shard(shard, spec, quarantine=lambda record: None):
        pass
    raise InputError(f"{shard.path}: duplicate ids in the file")  # only if the hashes disagreed on rereading
