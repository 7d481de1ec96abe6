"""ARPA files: the writer for an `Estimate`, and a small reader for checks and tests.

KenLM's ARPA reader wants `\\data\\` first, tab-separated fields (log10 probability, n-gram,
optional log10 backoff) and `<unk>` among the unigrams. The highest order has no backoff
column. Values are written as float32 (what KenLM stores), shortest round-trip form.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from operators.lm.kneser_ney import Estimate
from storage import files

_EMPTY, _NEWLINE, _SPACE, _TAB = (pa.scalar(x, pa.large_string()) for x in ("", "\n", " ", "\t"))


def _numbers(values: np.ndarray) -> pa.Array:
    # float32 -> string gives the shortest text that reads back to the same float32
    return pc.cast(pa.array(values.astype(np.float32)), pa.large_string())


def _write_lines(f, lines: pa.Array) -> None:
    """Write a string array as lines, straight from its data buffer."""
    lines = pc.binary_join_element_wise(lines, _EMPTY, _NEWLINE) if len(lines) else lines
    arr = lines.combine_chunks() if isinstance(lines, pa.ChunkedArray) else lines
    if not len(arr):
        return
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64, count=len(arr) + 1, offset=arr.offset * 8)
    data = arr.buffers()[2]
    f.write(memoryview(data)[offsets[0]:offsets[-1]])


def write_arpa(model: Estimate, vocab: list[str], path: Path, batch: int = 2_000_000) -> None:
    """Write the model as ARPA. `vocab[i]` is the text of spool word id i."""
    words_text = pa.array([vocab[int(w)] for w in model.words], pa.large_string())
    with files.AtomicFile(path) as f:
        f.write(b"\\data\\\n")
        for n, count in enumerate(model.counts(), start=1):
            f.write(f"ngram {n}={count}\n".encode())
        text = words_text  # n-gram texts of the current order, by n-gram id
        for n in range(1, model.order + 1):
            f.write(f"\n\\{n}-grams:\n".encode())
            if n > 1:
                t = model.tables[n - 1]
                text = pc.binary_join_element_wise(
                    pc.take(text, pa.array(t.prefix)), pc.take(words_text, pa.array(t.word)), _SPACE)
            for lo in range(0, len(text), batch):
                hi = min(lo + batch, len(text))
                cols = [_numbers(model.log_prob[n - 1][lo:hi]), text.slice(lo, hi - lo)]
                if n < model.order:
                    cols.append(_numbers(model.log_backoff[n - 1][lo:hi]))
                _write_lines(f, pc.binary_join_element_wise(*cols, _TAB))
        f.write(b"\n\\end\\\n")


def read_arpa(path: Path) -> dict[int, dict[str, tuple[float, float]]]:
    """{order: {n-gram text: (log10 prob, log10 backoff or 0)}} (for checks; reads it all)."""
    out: dict[int, dict[str, tuple[float, float]]] = {}
    section = 0
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.rstrip("\n")
            if not line:
                continue
            if line.startswith("\\"):
                if line.endswith("-grams:"):
                    section = int(line[1:line.index("-")])
                    out[section] = {}
                else:
                    section = 0
                continue
            if section == 0:
                continue
            fields = line.split("\t")
            backoff = float(fields[2]) if len(fields) > 2 else 0.0
            out[section][fields[1]] = (float(fields[0]), backoff)
    return out
