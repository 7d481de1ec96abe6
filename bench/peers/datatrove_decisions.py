"""datatrove's own filter classes, one at a time, on every document (run with the datatrove
environment's Python): writes, per document, the reason each filter removes it for ("" = kept).

Usage: datatrove_decisions.py OUT.parquet SHARD.parquet [SHARD.parquet ...]
"""

from __future__ import annotations

import sys

import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import Document
from datatrove.pipeline.filters import (
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
)

FILTERS = {"gopher_repetition": GopherRepetitionFilter, "gopher_quality": GopherQualityFilter,
           "c4": lambda: C4QualityFilter(filter_no_terminal_punct=False), "fineweb": FineWebQualityFilter}


def main() -> None:
    out, shards = sys.argv[1], sys.argv[2:]
    table = pa.concat_tables([pq.read_table(s, columns=["id", "text"]) for s in shards])
    ids, texts = table.column("id").to_pylist(), table.column("text").to_pylist()
    columns = {"id": ids}
    for name, make in FILTERS.items():
        f = make()
        reasons = []
        for i, text in zip(ids, texts):
            result = f.filter(Document(text=text or "", id=i))  # C4 edits the text of its own copy
            kept, reason = (result, "") if isinstance(result, bool) else result
            reasons.append("" if kept else (reason or "removed"))
        columns[name] = reasons
    pq.write_table(pa.table(columns), out)


if __name__ == "__main__":
    main()
