"""Documents removed before the PII step, and quarantined records, reach rejected/ and
quarantine/ scrubbed by that step (real presidio, pattern recognizers)."""

from __future__ import annotations

import gzip
import json

import pyarrow.parquet as pq

from pipeline.recipe import validate_recipe
from pipeline.runner import run_recipe
from tests.core_helpers import recipe_dict

EMAIL = "maria.lopez@example.org"
IP = "203.0.113.77"


def test_sinks_hold_no_raw_pii_when_the_recipe_scrubs(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    lines = [
        {"text": f"short note to {EMAIL}"},  # removed by words_filter, before the scrubber
        {"text": "a long enough document " * 5 + f"written from {IP} by {EMAIL}."},
        {"text": 17, "note": f"contact {EMAIL}"},  # quarantined: non-string text
    ]
    with gzip.open(folder / "a.jsonl.gz", "wt") as fh:
        fh.write("\n".join(json.dumps(x) for x in lines) + "\n")
    out = tmp_path / "out"
    data = recipe_dict(f"{folder}/a.jsonl.gz", str(out), steps=[
        {"words_filter": {"min_words": 10}},
        {"pii_scrubber": {"policy": "tag"}},
    ])
    run_recipe(validate_recipe(data))
    rejected = pq.read_table(out / "rejected" / "step00_words_filter" / "a.parquet").to_pylist()
    assert rejected[0]["text"] == "short note to <EMAIL>"
    quarantine = pq.read_table(out / "quarantine" / "a.parquet").to_pylist()
    assert quarantine[0]["reason"].startswith("non_string_text") and EMAIL not in quarantine[0]["raw"]
    kept = pq.read_table(out / "a.parquet").to_pylist()
    assert EMAIL not in kept[0]["text"] and IP not in kept[0]["text"]
    for path in out.rglob("*"):
        if path.is_file():
            assert EMAIL.encode() not in path.read_bytes(), path
