"""exact_dedup across input datasets and against saved indexes; line_dedup (CCNet style)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from operators.dedup.exact import ExactDedup
from operators.dedup.lines import LineDedup
from pipeline.recipe import validate_recipe
from pipeline.runner import run_recipe


def _write(folder: Path, name: str, rows: list[dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), folder / f"{name}.parquet")


def _run(inputs: list[str] | str, out: Path, steps: list[dict], workers: int = 1) -> tuple[list[dict], list[dict], dict]:
    recipe = validate_recipe({
        "input": {"path": inputs, "id_column": "id", "batch_size": 7},
        "output": {"path": str(out), "report": False},
        "executor": {"type": "local", "workers": workers},
        "steps": steps,
    })
    result = run_recipe(recipe)
    kept = [r for f in sorted(out.glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
    removed = [r for f in sorted(out.glob("rejected/*/*.parquet")) for r in pq.read_table(f).to_pylist()]
    return kept, removed, result.stats


def test_exact_dedup_across_datasets_and_against_an_earlier_run(tmp_path):
    old = [{"id": f"old{i}", "text": f"story number {i} about rivers"} for i in range(30)]
    _write(tmp_path / "old", "a", old[:15])
    _write(tmp_path / "old", "b", old[15:] + [{"id": "old-copy", "text": "story number 3 about  rivers"}])
    kept, removed, stats = _run(str(tmp_path / "old" / "*.parquet"), tmp_path / "run1", [{"exact_dedup": {"partitions": 4}}])
    assert [r["id"] for r in removed] == ["old-copy"] and len(kept) == 30
    index = tmp_path / "run1" / "artifacts" / "exact_dedup_index"
    assert json.loads((index / "index.json").read_text())["hashes"] == 30

    # new data: two datasets listed in order; copies across them, inside them, and of old data
    _write(tmp_path / "web", "w", [{"id": "w1", "text": "fresh web page"}, {"id": "w2", "text": "shared between sets"},
                                   {"id": "w3", "text": "story number 7 about rivers"}])
    _write(tmp_path / "books", "k", [{"id": "k1", "text": "shared between sets"}, {"id": "k2", "text": "a book"},
                                     {"id": "k3", "text": "a book"}])
    steps = [{"exact_dedup": {"partitions": 3, "against": [str(index)], "index_name": "idx2"}}]
    kept, removed, stats = _run([str(tmp_path / "web"), str(tmp_path / "books")], tmp_path / "run2", steps)
    reasons = {r["id"]: r["reason"] for r in removed}
    assert reasons == {"w3": "exact_dedup:in_index", "k1": "exact_dedup:duplicate", "k3": "exact_dedup:duplicate"}
    assert stats["steps"][0]["metrics"]["exact_dedup:in_index:exact_dedup_index"] == 1
    # the saved index is cumulative: a third run against it alone sees old and new texts
    _write(tmp_path / "third", "t", [{"id": "t1", "text": "a book"}, {"id": "t2", "text": "story number 29 about rivers"},
                                     {"id": "t3", "text": "brand new"}])
    steps = [{"exact_dedup": {"partitions": 5, "against": [str(tmp_path / "run2" / "artifacts" / "idx2")]}}]
    kept, removed, _ = _run(str(tmp_path / "third"), tmp_path / "run3", steps)
    assert [r["id"] for r in kept] == ["t3"] and {r["reason"] for r in removed} == {"exact_dedup:in_index"}


def test_exact_dedup_keep_column_and_index_checks(tmp_path):
    rows = [{"text": "same", "q": 1}, {"text": "same", "q": 5}, {"text": "same", "q": 5}, {"text": "other", "q": 0}]
    kept, removed, reasons = ExactDedup(keep_column="q").run(rows)
    assert kept.column("q").to_pylist() == [5, 0] and kept.column("_doc_key").to_pylist() == [1, 3]
    with pytest.raises(ValueError, match="keep_column .nope. is not a column"):
        ExactDedup(keep_column="nope").run(rows)
    with pytest.raises(FileNotFoundError, match="not an exact_dedup index"):
        ExactDedup(against=[str(tmp_path)]).run(rows)


def test_line_dedup_removes_repeats_after_first_and_counts(tmp_path):
    footer = "Copyright 2019 Example News. All rights reserved."
    docs = [
        {"id": "a", "text": f"First story begins here.\n{footer}\nok"},
        {"id": "b", "text": "Second story.\ncopyright 2020 example news -- all rights reserved\n\nok\nSecond story."},
        {"id": "c", "text": footer.upper()},
        {"id": "d", "text": "Unique text only"},
    ]
    _write(tmp_path / "in", "s0", docs[:2])
    _write(tmp_path / "in", "s1", docs[2:])
    for workers in (1, 2):
        kept, removed, stats = _run(str(tmp_path / "in"), tmp_path / f"out{workers}",
                                    [{"line_dedup": {"min_line_chars": 3, "partitions": 2}}], workers=workers)
        by_id = {r["id"]: r for r in kept}
        # "ok" is shorter than min_line_chars after normalization, so both copies stay
        assert by_id["a"]["text"] == docs[0]["text"] and by_id["a"]["line_dedup_lines_removed"] == 0
        assert by_id["b"]["text"] == "Second story.\n\nok"
        assert by_id["b"]["line_dedup_lines_removed"] == 2
        assert by_id["b"]["line_dedup_chars_removed"] == len(docs[1]["text"]) - len("Second story.\n\nok")
        assert by_id["d"]["line_dedup_lines_removed"] == 0
        assert [(r["id"], r["reason"], r["text"]) for r in removed] == [("c", "line_dedup:all_lines_duplicate", footer.upper())]
        metrics = stats["steps"][0]["metrics"]
        assert metrics["line_dedup:lines_removed"] == 3


def test_line_dedup_python_api_keeps_null_and_first_copy():
    kept, removed, _ = LineDedup().run([{"text": None}, {"text": "x\nx\ny"}, {"text": "Y"}])
    assert kept.column("text").to_pylist() == [None, "x\ny"]
    assert removed.column("text").to_pylist() == ["Y"]
