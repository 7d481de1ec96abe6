"""Held-out measures of a trained tokenizer, and the summary files (JSON and Markdown).

bytes per token = UTF-8 bytes / tokens (higher: better compression); tokens per word (fertility)
= tokens / whitespace-separated words; unknown share and byte-fallback share = such tokens /
all tokens; round trip = share of documents whose decoded ids equal the original text exactly.
Special tokens are not added when encoding.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from operators.tokenizer.loading import TokenizerHandle


def evaluate(handle: TokenizerHandle, batches: Iterable[list[str]], reference: TokenizerHandle | None = None) -> dict[str, Any]:
    """Measures over the held-out texts; with `reference`, also the share of documents that
    `reference` encodes to the same ids (tokenizer.json against the SentencePiece model)."""
    docs = nbytes = words = tokens = unk = byte_tokens = round_trip = agree = 0
    for texts in batches:
        if not texts:
            continue
        ids = handle.encode_batch(texts)
        arr = pa.array(texts, pa.string())
        docs += len(texts)
        nbytes += int(pc.sum(pc.binary_length(arr)).as_py() or 0)
        words += int(pc.sum(pc.list_value_length(pc.utf8_split_whitespace(arr))).as_py() or 0)
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        tokens += int(lengths.sum())
        flat = np.fromiter((i for x in ids for i in x), dtype=np.int64, count=int(lengths.sum()))
        if handle.unk_id is not None:
            unk += int((flat == handle.unk_id).sum())
        if handle.byte_ids.size:
            byte_tokens += int(np.isin(flat, handle.byte_ids).sum())
        round_trip += sum(d == t for d, t in zip(handle.decode_batch(ids), texts))
        if reference is not None:
            agree += sum(a == b for a, b in zip(reference.encode_batch(texts), ids))
    out: dict[str, Any] = {
        "documents": docs,
        "bytes": nbytes,
        "words": words,
        "tokens": tokens,
        "bytes_per_token": _ratio(nbytes, tokens),
        "tokens_per_word": _ratio(tokens, words),
        "unknown_share": _ratio(unk, tokens, 6),
        "byte_fallback_share": _ratio(byte_tokens, tokens, 6),
        "round_trip_share": _ratio(round_trip, docs, 4),
    }
    if reference is not None:
        out["tokenizer_json_agreement"] = _ratio(agree, docs, 4)
    return out


def _ratio(a: float, b: float, digits: int = 4) -> float | None:
    return round(a / b, digits) if b else None


def write_summary(folder: Path, summary: dict[str, Any]) -> None:
    (folder / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False, sort_keys=True) + "\n",
                                         encoding="utf-8")
    (folder / "summary.md").write_text(summary_markdown(summary), encoding="utf-8")


def summary_markdown(s: dict[str, Any]) -> str:
    h = s.get("held_out") or {}
    t = s["training"]

    def fmt(v: Any) -> str:
        return "n/a" if v is None else (f"{v:,}" if isinstance(v, int) else str(v))

    rows = [
        ("algorithm", s["algorithm"]),
        ("vocabulary size", f"{fmt(s['vocab_size'])} (asked {fmt(s['vocab_size_requested'])})"),
        ("special tokens", ", ".join(f"`{k}`={v}" for k, v in s["special_tokens"].items()) or "none"),
        ("training documents", fmt(t["documents"])),
        ("training bytes", fmt(t["bytes"])),
        ("held-out documents", fmt(h.get("documents"))),
        ("bytes per token (held out)", fmt(h.get("bytes_per_token"))),
        ("tokens per word (held out)", fmt(h.get("tokens_per_word"))),
        ("unknown-token share", fmt(h.get("unknown_share"))),
        ("byte-fallback share", fmt(h.get("byte_fallback_share"))),
        ("exact round trip (documents)", fmt(h.get("round_trip_share"))),
    ]
    if "tokenizer_json_agreement" in h:
        rows.append(("tokenizer.json = .model ids (documents)", fmt(h["tokenizer_json_agreement"])))
    lines = [f"# Tokenizer `{s['artifact']}`", "", "| measure | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in rows]
    lines += ["", "Files: " + ", ".join(f"`{f}`" for f in s["files"]), ""]
    return "\n".join(lines)
