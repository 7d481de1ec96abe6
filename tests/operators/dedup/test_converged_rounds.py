"""Connected-component rounds after the converging one are not run at all (their tasks would only
write flags saying so), and the decisions are those of a run that never converges early."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.recipe import validate_recipe
from pipeline.runner import run_recipe
from tests.core_helpers import make_docs, recipe_dict
from tests.pipeline.test_split_remote_jsonl import Recording


def run(tmp_path, name: str, cc_rounds: int, workers: int = 2) -> dict:
    out = tmp_path / name
    step = {"minhash_dedup": {"threshold": 0.7, "partitions": 4, "cc_rounds": cc_rounds}}
    return run_recipe(validate_recipe(recipe_dict(f"{tmp_path}/in/*", str(out), steps=[step], workers=workers))).stats


def removed_ids(stats: dict, tmp_path, name: str) -> list[str]:
    files = sorted((tmp_path / name / "rejected").rglob("*.parquet"))
    return sorted(i for f in files for i in pq.read_table(f, columns=["id"]).column("id").to_pylist())


def test_rounds_after_convergence_run_no_task(tmp_path) -> None:
    (tmp_path / "in").mkdir()
    for part in range(3):
        pq.write_table(pa.Table.from_pylist(make_docs(120, seed=part, dup_every=3)),
                       tmp_path / "in" / f"part-{part}.parquet")
    stats = run(tmp_path, "eight", 8)
    tasks = {t["label"]: t["tasks"] for t in stats["tasks"]}
    ran = [r for r in range(8) if tasks[f"minhash_dedup:components_{r}"]]
    converged = stats["steps"][0]["metrics"]["minhash_dedup:cc_rounds"]
    assert ran == list(range(converged + 1)) and converged < 7  # the converging round runs; none after it
    assert all(tasks[f"minhash_dedup:components_{r}"] == 4 for r in ran)
    one = run(tmp_path, "one", 1, workers=1)  # one round, then the in-memory finish
    assert stats["steps"][0]["documents_removed"] > 0
    assert removed_ids(stats, tmp_path, "eight") == removed_ids(one, tmp_path, "one")
    step = {"minhash_dedup": {"threshold": 0.7, "partitions": 4, "cc_rounds": 8}}
    backend = Recording(2)  # a rerun: the skipped rounds are remembered, nothing runs (their data is gone)
    try:
        run_recipe(validate_recipe(recipe_dict(f"{tmp_path}/in/*", str(tmp_path / "eight"), steps=[step], workers=2)),
                   backend=backend)
    finally:
        backend.close()
    assert [label for label, names in backend.maps if names] == []
