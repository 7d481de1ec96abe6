"""What the text-rewriting mappers share: the text column as one string array, rewriting only
the rows that need it, and counting what changed (metrics summed into stats.json)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from operators.base import TEXT, Operator, with_column
from operators.text.splitting import text_array


def rewrite_rows(texts: pa.Array, needs: pa.Array, fn: Callable[[pa.Array], pa.Array]) -> pa.Array:
    """`fn` applied to the rows where `needs` is true; the other rows stay as they are (a cheap
    vectorized test first, the costly rewrite only where it can change something)."""
    needs = pc.fill_null(needs, False)
    n = int(pc.sum(needs).as_py() or 0)
    if n == 0:
        return texts
    if n == len(texts):
        return fn(texts)
    return pc.replace_with_mask(texts, needs, fn(texts.filter(needs)))


def set_text(op: Operator, table: pa.Table, before: pa.Array, after: pa.Array) -> pa.Table:
    """Write the rewritten text and count `<op>:documents_changed` and `<op>:chars_removed`
    (code points before minus after; negative when a rewrite lengthens text)."""
    if len(before):
        changed = int(pc.sum(pc.not_equal(before, after)).as_py() or 0)
        delta = int(pc.sum(pc.utf8_length(before)).as_py() or 0) - int(pc.sum(pc.utf8_length(after)).as_py() or 0)
        op.add_metric(f"{op.name}:documents_changed", changed)
        op.add_metric(f"{op.name}:chars_removed", delta)
    original = table.schema.field(TEXT).type
    return with_column(table, TEXT, after if after.type == original else after.cast(original))


def batch_text(table: pa.Table) -> pa.Array:
    """The text column as one string array, null as empty."""
    return text_array(table.column(TEXT)) if table.num_rows else pa.array([], pa.string())


def count_matches(texts: pa.Array, pattern: str) -> np.ndarray:
    """Non-overlapping matches of an RE2 pattern per row (int64)."""
    if len(texts) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.asarray(pc.count_substring_regex(texts, pattern).to_numpy(zero_copy_only=False), dtype=np.int64)


def remove_matches(op: Operator, table: pa.Table, pattern: str, replacement: str, what: str,
                   count_column: str | None) -> pa.Table:
    """Replace every match of `pattern` in the text (rows without one are not rewritten); count
    them in metric `<op>:<what>` and, if named, an int32 column per document."""
    before = batch_text(table)
    counts = count_matches(before, pattern)
    op.add_metric(f"{op.name}:{what}", int(counts.sum()))
    repl = replacement.replace("\\", "\\\\")
    after = rewrite_rows(before, pa.array(counts > 0), lambda t: pc.replace_substring_regex(t, pattern, repl))
    table = set_text(op, table, before, after)
    if count_column:
        table = with_column(table, count_column, pa.array(counts.astype(np.int32)), pa.int32())
    return table
