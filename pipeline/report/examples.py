"""A few removed documents per reason, truncated and with personal data scrubbed.

Whatever the recipe did (PII steps may come after the filter that removed a document, or not
run at all), text and ids pass through `redact_for_display` before they reach the page. The
redaction runs on a window far longer than what is shown, so an e-mail or number cut by the
truncation is never shown half-redacted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from operators.pii.display import redact_for_display
from pipeline.report.run_data import parquet_file

SHOWN_CHARS = 600
REDACT_WINDOW = 50_000  # redact this much, then cut to SHOWN_CHARS


@dataclass
class Example:
    doc_id: str
    text: str  # redacted and truncated
    chars: int  # length of the original text
    stats: dict[str, float]


def scrub(text: str | None, limit: int = SHOWN_CHARS) -> str:
    """Redacted, then truncated to `limit` characters (with a marker)."""
    if not text:
        return ""
    clean = redact_for_display(text[:REDACT_WINDOW])
    return clean if len(clean) <= limit else clean[:limit] + " […]"


def examples_by_reason(files: Sequence[Path], per_reason: int, text_column: str, stat_columns: Sequence[str],
                       id_column: str = "id") -> dict[str, list[Example]]:
    """The first `per_reason` removed documents of each reason, in file order.

    Reads the `reason` column first, then only the row groups holding the chosen rows."""
    out: dict[str, list[Example]] = defaultdict(list)
    for path in files:
        pf = parquet_file(path)
        names = pf.schema_arrow.names
        if "reason" not in names or text_column not in names:
            continue
        wanted: dict[int, str] = {}
        offset = 0
        for rg in range(pf.metadata.num_row_groups):
            reasons = pf.read_row_group(rg, columns=["reason"]).column("reason").to_numpy(zero_copy_only=False)
            for reason in np.unique(reasons.astype(str)):
                need = per_reason - len(out[reason]) - sum(1 for r in wanted.values() if r == reason)
                if need > 0:
                    for row in np.flatnonzero(reasons == reason)[:need]:
                        wanted[offset + int(row)] = reason
            offset += pf.metadata.row_group(rg).num_rows
        if not wanted:
            continue
        cols = [text_column] + [c for c in (id_column, *stat_columns) if c in names and c != text_column]
        rows = sorted(wanted)
        table = _take_rows(pf, rows, cols)
        for i, row in enumerate(rows):
            text = table.column(text_column)[i].as_py() or ""
            doc_id = table.column(id_column)[i].as_py() if id_column in table.column_names else ""
            stats = {c: table.column(c)[i].as_py() for c in stat_columns if c in table.column_names}
            out[wanted[row]].append(Example(scrub(str(doc_id), 120), scrub(text), len(text), stats))
    return dict(out)


def _take_rows(pf: pq.ParquetFile, rows: list[int], columns: list[str]) -> pa.Table:
    """Rows by file position, reading only the row groups that hold them."""
    starts = np.cumsum([0] + [pf.metadata.row_group(i).num_rows for i in range(pf.metadata.num_row_groups)])
    pieces = []
    for rg in range(pf.metadata.num_row_groups):
        local = [r - starts[rg] for r in rows if starts[rg] <= r < starts[rg + 1]]
        if local:
            pieces.append(pf.read_row_group(rg, columns=columns).take(pa.array(local, pa.int64())))
    return pa.concat_tables(pieces)


@dataclass
class QuarantineExample:
    file: str
    row: int
    field: str
    reason: str
    raw: str


def quarantine_examples(files: Sequence[Path], limit: int) -> list[QuarantineExample]:
    out: list[QuarantineExample] = []
    for path in files:
        if len(out) >= limit:
            break
        first = next(parquet_file(path).iter_batches(batch_size=limit - len(out)), None)
        for rec in first.to_pylist() if first is not None else []:
            out.append(QuarantineExample(str(rec.get("file", "")), int(rec.get("row", -1)), scrub(str(rec.get("field", "")), 80),
                                         scrub(str(rec.get("reason", "")), 200), scrub(rec.get("raw") or "", 300)))
    return out


def count_rows(files: Sequence[Path]) -> int:
    return int(sum(parquet_file(p).metadata.num_rows for p in files))


def reason_counts(files: Sequence[Path]) -> dict[str, int]:
    """Exact reason counts of removed rows (a cross-check of stats.json)."""
    counts: dict[str, int] = defaultdict(int)
    for path in files:
        col = parquet_file(path).read(columns=["reason"]).column("reason")
        for item in pc.value_counts(col).to_pylist():
            counts[item["values"]] += item["counts"]
    return dict(counts)
