"""Scrubbing whole columns: plain string columns, JSON held in strings, and nested columns.

The scrubber finds PII in plain strings; this module takes every string a column holds to it
and puts the results back without changing the column's type:

- string, large_string and dictionary<string> columns: each distinct value is scrubbed once
  (a column such as `source` holds a handful of values per batch);
- a value of another string column that parses as a JSON object or array (the `metadata`
  column of JSONL input) is scrubbed value by value, keys included, and written back as JSON,
  so it stays valid JSON; other values are scrubbed as text;
- list, struct, map... columns: every string inside is scrubbed (struct field names are schema,
  not data, and stay).

Each finding is reported as (row, entity), so per-document counts cover every column.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa

# texts -> per text: (scrubbed text, entities found in it)
StringScrub = Callable[[list[str]], list[tuple[str, list[str]]]]
Hits = list[tuple[int, str]]


def holds_strings(t: pa.DataType) -> bool:
    """Whether values of this type can contain a string."""
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return True
    if pa.types.is_dictionary(t):
        return holds_strings(t.value_type)
    return any(holds_strings(t.field(i).type) for i in range(t.num_fields))


def _is_flat_string(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _looks_like_json(value: str) -> bool:
    head = value.lstrip()[:1]
    return head == "{" or head == "["


def _leaves(obj: Any, out: list[str], keys: bool) -> None:
    """Every string in a Python value (dict keys too when `keys`), in a fixed order."""
    if isinstance(obj, str):
        out.append(obj)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            if keys and isinstance(k, str):
                out.append(k)
            _leaves(v, out, keys)
    elif isinstance(obj, list | tuple):
        for v in obj:
            _leaves(v, out, keys)


def _rebuild(obj: Any, new: Iterator[str], keys: bool) -> Any:
    """`obj` with its strings replaced, in `_leaves` order. Keys that scrub to the same token get
    a suffix (`<EMAIL>`, `<EMAIL>#2`) instead of one overwriting the other."""
    if isinstance(obj, str):
        return next(new)
    if isinstance(obj, dict):
        out: dict[Any, Any] = {}
        for k, v in obj.items():
            if keys and isinstance(k, str):
                k = base = next(new)
                n = 1
                while k in out:
                    n += 1
                    k = f"{base}#{n}"
            out[k] = _rebuild(v, new, keys)
        return out
    if isinstance(obj, list | tuple):
        items = [_rebuild(v, new, keys) for v in obj]
        return tuple(items) if isinstance(obj, tuple) else items
    return obj


class _Batch:
    """Strings collected from many values, scrubbed in one call, each distinct string once."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.owner: list[int] = []  # row of each collected string

    def add(self, row: int, strings: list[str]) -> None:
        self.texts += strings
        self.owner += [row] * len(strings)

    def run(self, scrub: StringScrub, hits: Hits) -> list[str]:
        distinct = list(dict.fromkeys(self.texts))
        done = dict(zip(distinct, scrub(distinct)))
        out = []
        for row, text in zip(self.owner, self.texts):
            new, found = done[text]
            hits += [(row, e) for e in found]
            out.append(new)
        return out


def _scrub_flat(values: list[str | None], scrub: StringScrub, json_values: bool, hits: Hits,
                rows: list[list[int]] | None = None) -> list[str | None] | None:
    """Scrubbed values, or None when nothing changed. `rows[i]`: the rows value i stands for
    (dictionary entries), else value i is row i."""
    batch = _Batch()
    parsed: dict[int, Any] = {}
    for i, v in enumerate(values):
        if v is None:
            continue
        if json_values and _looks_like_json(v):
            strings: list[str] = []
            try:
                obj = json.loads(v)
                _leaves(obj, strings, keys=True)
            except (ValueError, RecursionError):  # not JSON (or too deep to walk): scrubbed as text
                pass
            else:
                parsed[i] = obj
                batch.add(i, strings)
                continue
        batch.add(i, [v])
    found: Hits = []
    scrubbed = iter(batch.run(scrub, found))
    if not found:
        return None
    for i, e in found:
        hits += [(r, e) for r in rows[i]] if rows is not None else [(i, e)]
    changed = {i for i, _ in found}
    out: list[str | None] = []
    for i, v in enumerate(values):
        if v is None:
            out.append(None)
        elif i in parsed:
            obj = parsed[i]
            strings = []
            _leaves(obj, strings, keys=True)
            new = [next(scrubbed) for _ in strings]
            out.append(json.dumps(_rebuild(obj, iter(new), keys=True), ensure_ascii=False) if i in changed else v)
        else:
            out.append(next(scrubbed))
    return out


def _scrub_nested(arr: pa.Array, scrub: StringScrub, hits: Hits) -> pa.Array:
    """Lists, structs, maps...: through Python values (rare columns; struct field names stay)."""
    values = arr.to_pylist()
    batch = _Batch()
    for i, v in enumerate(values):
        strings: list[str] = []
        _leaves(v, strings, keys=False)
        batch.add(i, strings)
    found: Hits = []
    new = iter(batch.run(scrub, found))
    if not found:
        return arr
    hits += found
    return pa.array([_rebuild(v, new, keys=False) for v in values], type=arr.type)


def scrub_array(arr: pa.Array, scrub: StringScrub, json_values: bool, hits: Hits) -> pa.Array:
    """`arr` with every string in it scrubbed (the same array when nothing was found); findings
    are appended to `hits` as (row, entity)."""
    t = arr.type
    if _is_flat_string(t):
        new = _scrub_flat(arr.to_pylist(), scrub, json_values, hits)
        return arr if new is None else pa.array(new, t)
    if pa.types.is_dictionary(t) and _is_flat_string(t.value_type):
        indices = arr.indices.to_pylist()
        rows: list[list[int]] = [[] for _ in range(len(arr.dictionary))]
        for row, k in enumerate(indices):
            if k is not None:
                rows[k].append(row)
        new = _scrub_flat(arr.dictionary.to_pylist(), scrub, json_values, hits, rows)
        return arr if new is None else pa.DictionaryArray.from_arrays(arr.indices, pa.array(new, t.value_type))
    if holds_strings(t):
        return _scrub_nested(arr, scrub, hits)
    return arr


def scrub_column(col: pa.ChunkedArray, scrub: StringScrub, json_values: bool, hits: Hits) -> pa.ChunkedArray | None:
    """A table column scrubbed chunk by chunk (None when nothing changed); rows in `hits` count
    from the column's start."""
    chunks, changed, offset = [], False, 0
    for chunk in col.chunks:
        found: Hits = []
        new = scrub_array(chunk, scrub, json_values, found)
        hits += [(offset + r, e) for r, e in found]
        changed = changed or new is not chunk
        chunks.append(new)
        offset += len(chunk)
    return pa.chunked_array(chunks, col.type) if changed else None
