"""Reading JSONL shards (plain, .gz, .zst) as bounded batches of `text`, `id`, `metadata`, `_doc_key`.

A damaged stream (truncated or corrupt gzip/zstd) is an `InputError` naming the file; a bad line
(broken JSON, invalid UTF-8, lone surrogate, nesting too deep, longer than `max_line_bytes`,
missing or non-string text, an id that is not a string or integer) is quarantined with its reason.
"""

from __future__ import annotations

import gzip
import io
import json
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa

from pipeline.io.pieces import Piece
from pipeline.io.shards import InputError, Quarantined, Shard, check_regular_file, open_input
from storage.columns import DOC_KEY, ID, SHARD_BITS, TEXT

QUARANTINE_RAW_CHARS = 2000
# zstd expands a block up to ~32,000 times: feeding small slices bounds the memory of one call
ZSTD_FEED_BYTES = 2048


class ZstdFrames(io.RawIOBase):
    """Decompresses zstd frames one after another and, unlike the library's stream reader,
    raises when the input ends inside a frame (a truncated file)."""

    def __init__(self, raw: Any):
        import zstandard

        self._raw = raw
        self._dctx = zstandard.ZstdDecompressor()
        self._obj: Any = None
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            data = self._raw.read(ZSTD_FEED_BYTES)
            if not data:
                if self._obj is not None and not self._obj.eof:
                    raise EOFError("the zstd stream ends inside a frame")
                return 0
            self._pending = memoryview(self._decompress(data))
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def _decompress(self, data: bytes) -> bytes:
        out = []
        while data:
            if self._obj is None or self._obj.eof:
                self._obj = self._dctx.decompressobj()
            out.append(self._obj.decompress(data))
            data = self._obj.unused_data if self._obj.eof else b""
        return b"".join(out)


def _open_stream(shard: Shard, spec: Any) -> tuple[Any, Any]:
    if "://" not in shard.path:
        check_regular_file(shard.path)
    try:
        raw = open_input(shard.path, spec.storage_options)
    except FileNotFoundError:
        raise InputError(f"{shard.path}: file not found") from None
    if shard.path.endswith(".gz"):
        return raw, gzip.GzipFile(fileobj=raw)
    if shard.path.endswith(".zst"):
        return raw, ZstdFrames(raw)
    return raw, raw


def jsonl_lines(shard: Shard, spec: Any, byte_range: tuple[int, int] | None = None,
                first_line: int = 1) -> Iterator[tuple[int, bytes, bool]]:
    """(line number, line, too_long); a line longer than `max_line_bytes` comes as its first
    bytes only, the rest is skipped in bounded reads.

    With `byte_range` [start, end) (uncompressed files only): the lines that start in it, so
    consecutive ranges read every line once. A line cut by `start` belongs to the range before;
    the line that `end` cuts is read to its end; `first_line` is the number of the first line
    starting at or after `start`."""
    raw, stream = _open_stream(shard, spec)
    limit = spec.max_line_bytes
    line_no = first_line - 1
    start, end = byte_range or (0, None)
    try:
        if start:
            raw.seek(start - 1)  # from the byte before: is `start` a line start already?
        reader = io.BufferedReader(stream, buffer_size=1 << 20)
        pos = start
        if start:
            pos += _skip_line(reader) - 1
        while (end is None or pos < end) and (line := reader.readline(limit + 1)):
            line_no += 1
            pos += len(line)
            if len(line) <= limit or line.endswith(b"\n"):
                yield line_no, line, False
                continue
            head = line[: QUARANTINE_RAW_CHARS * 4]
            del line
            pos += _skip_line(reader)
            yield line_no, head, True
    except (EOFError, OSError, zlib.error) as exc:
        raise InputError(f"{shard.path}: compressed stream is corrupt or truncated after line {line_no}: {exc}") from None
    except Exception as exc:
        if type(exc).__name__ == "ZstdError":
            raise InputError(f"{shard.path}: zstd stream is corrupt or truncated after line {line_no}: {exc}") from None
        raise
    finally:
        raw.close()


def _skip_line(reader: io.BufferedReader) -> int:
    """Read through the next newline in bounded reads; the bytes skipped."""
    skipped = 0
    while rest := reader.readline(1 << 20):
        skipped += len(rest)
        if rest.endswith(b"\n"):
            break
    return skipped


class _Bad(Exception):
    def __init__(self, field: str, reason: str):
        self.field = field
        self.reason = reason


def _parse(line: bytes, spec: Any, shard: Shard, line_no: int) -> tuple[str, str, str | None]:
    """(text, id, metadata JSON) of one line, or _Bad(field, reason)."""
    try:
        obj = json.loads(line)
    except UnicodeDecodeError:
        raise _Bad("<line>", "invalid_utf8") from None
    except RecursionError:
        raise _Bad("<line>", "nested_too_deep") from None
    except ValueError:
        raise _Bad("<line>", "invalid_json") from None
    if not isinstance(obj, dict):
        raise _Bad("<line>", "not_an_object")
    if spec.text_column not in obj:
        raise _Bad(spec.text_column, "missing_field")
    text = obj.pop(spec.text_column)
    if text is None:
        raise _Bad(spec.text_column, "null_text")
    if not isinstance(text, str):
        raise _Bad(spec.text_column, f"non_string_text ({type(text).__name__})")
    key = spec.id_column or (ID if ID in obj else None)
    if key:
        if obj.get(key) is None:
            raise _Bad(key, "missing_id")
        raw_id = obj.pop(key)
        if isinstance(raw_id, bool) or not isinstance(raw_id, str | int):
            raise _Bad(key, f"non_string_id ({type(raw_id).__name__})")
        doc_id = raw_id if isinstance(raw_id, str) else str(raw_id)
    else:
        doc_id = f"{shard.name}/{line_no - 1}"
    try:
        meta = json.dumps(obj, ensure_ascii=False, sort_keys=True) if obj else None
    except RecursionError:
        raise _Bad("<line>", "nested_too_deep") from None
    return text, doc_id, meta


class _Batch:
    """The records of one batch, and the bad lines met meanwhile, quarantined in line order.

    A lone surrogate (JSON "\\ud800") cannot become an Arrow (UTF-8) string; building the arrays
    finds it at no extra cost, and only then are the records looked at one by one."""

    def __init__(self, shard: Shard, spec: Any, quarantine: Callable[[Quarantined], None] | None):
        self.shard, self.spec, self.quarantine = shard, spec, quarantine
        self.base = shard.index << SHARD_BITS
        self.texts: list[str] = []
        self.ids: list[str] = []
        self.meta: list[str | None] = []
        self.keys: list[int] = []
        self.bad: list[Quarantined] = []

    def add(self, line_no: int, text: str, doc_id: str, metadata: str | None) -> None:
        self.texts.append(text)
        self.ids.append(doc_id)
        self.meta.append(metadata)
        self.keys.append(self.base + line_no - 1)

    def reject(self, line_no: int, field: str, reason: str, raw: str) -> None:
        if self.quarantine is None:
            raise InputError(f"{self.shard.path}: line {line_no}: field {field!r}: {reason}")
        self.bad.append(Quarantined(self.shard.path, line_no, field, reason, raw[:QUARANTINE_RAW_CHARS]))

    def full(self) -> bool:
        return len(self.texts) >= self.spec.batch_size or len(self.bad) >= self.spec.batch_size

    def flush(self) -> pa.Table:
        try:
            table = self._table()
        except UnicodeEncodeError:
            self._drop_lone_surrogates()
            table = self._table()
        for record in sorted(self.bad, key=lambda r: r.row):
            assert self.quarantine is not None
            self.quarantine(record)
        for column in (self.texts, self.ids, self.meta, self.keys, self.bad):
            column.clear()
        return table

    def _table(self) -> pa.Table:
        return pa.table({
            TEXT: pa.array(self.texts, pa.string()),
            ID: pa.array(self.ids, pa.string()),
            "metadata": pa.array(self.meta, pa.string()),
            DOC_KEY: pa.array(self.keys, pa.int64()),
        })

    def _drop_lone_surrogates(self) -> None:
        id_field = self.spec.id_column or ID
        keep = []
        for i, (text, doc_id, meta) in enumerate(zip(self.texts, self.ids, self.meta, strict=True)):
            fields = {self.spec.text_column: text, id_field: doc_id, **(json.loads(meta) if meta else {})}
            field = next((k for k, v in fields.items() if not _encodable(json.dumps({k: v}, ensure_ascii=False))), None)
            if field is None:
                keep.append(i)
                continue
            name = field.encode("utf-8", "backslashreplace").decode("utf-8")  # the key itself may hold one
            self.reject(self.keys[i] - self.base + 1, name, "lone_surrogate", json.dumps(fields))
        for column in (self.texts, self.ids, self.meta, self.keys):
            column[:] = [column[i] for i in keep]


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def read_jsonl(shard: Shard, spec: Any, quarantine: Callable[[Quarantined], None] | None,
               piece: Piece | None = None) -> Iterator[pa.Table]:
    batch = _Batch(shard, spec, quarantine)
    byte_range, first_line = (piece.byte_range, piece.first_row + 1) if piece else (None, 1)
    for line_no, line, too_long in jsonl_lines(shard, spec, byte_range, first_line):
        if too_long:
            batch.reject(line_no, "<line>", "line_too_long", line.decode("utf-8", "replace"))
        elif line.strip():  # blank lines are layout, not records
            try:
                batch.add(line_no, *_parse(line, spec, shard, line_no))
            except _Bad as exc:
                batch.reject(line_no, exc.field, exc.reason, line.decode("utf-8", "replace"))
        if batch.full():
            yield batch.flush()
    yield batch.flush()
