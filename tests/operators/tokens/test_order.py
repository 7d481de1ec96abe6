"""The `tokenize` step's order and split: one global seeded shuffle (not per shard), the same
bytes for 1 and 2 workers and any file size, a validation split held out by id hash, and the
same files after `kill -9` and a rerun (real subprocesses, real kills)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.core_helpers import write_recipe
from tests.pipeline.test_resume_kill import kill_when, markers, start
from tests.tokens_helpers import manifest, parquet_docs, run, token_files, tokenize_recipe, train_bpe, write_sample

SHARDS, ROWS = 3, 300


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("order")
    return train_bpe(folder / "bpe"), write_sample(folder / "in", SHARDS, ROWS)


def steps(bpe: Path, **params) -> list[dict]:
    tokenize = {"tokenizer": str(bpe), "formats": ["megatron", "parquet"], "validation_documents": 40,
                "max_tokens_per_file": 40_000, "partitions": 4, **params}
    return [{"tokenize": tokenize}]


@pytest.fixture(scope="module")
def reference(setup, tmp_path_factory: pytest.TempPathFactory) -> Path:
    bpe, inputs = setup
    out = tmp_path_factory.mktemp("ref") / "out"
    run(tokenize_recipe(f"{inputs}/*.parquet", out, steps(bpe), workers=1))
    return out


def shard_of(inputs: Path) -> dict[str, int]:
    return {i: s for s, f in enumerate(sorted(inputs.glob("*.parquet")))
            for i in pq.read_table(f, columns=["id"]).column("id").to_pylist()}


def test_one_global_shuffle_with_a_held_out_split(setup, reference: Path, tmp_path: Path) -> None:
    _bpe, inputs = setup
    shards = shard_of(inputs)
    train = [r["id"] for r in parquet_docs(reference)]
    held = [r["id"] for r in parquet_docs(reference, "validation")]
    assert len(held) == 40 and not set(held) & set(train)
    assert sorted(train + held) == sorted(shards)  # every document exactly once
    assert len(train) == len(set(train))
    sequence = [shards[i] for i in train]
    assert sequence != sorted(sequence)  # not shard after shard
    first = sequence[:len(sequence) // 3]
    assert all(first.count(s) > 0.2 * len(first) for s in range(SHARDS))  # shards interleave from the start
    corpus_order = [i for f in sorted(inputs.glob("*.parquet")) for i in pq.read_table(f).column("id").to_pylist()]
    assert train != [i for i in corpus_order if i not in set(held)]
    m = manifest(reference)
    assert m["splits"]["validation"]["documents"] == 40 and len(m["splits"]["train"]["files"]) > 1
    assert m["documents"] == SHARDS * ROWS


def test_same_bytes_for_1_and_2_workers(setup, reference: Path, tmp_path: Path) -> None:
    bpe, inputs = setup
    out = tmp_path / "out"
    run(tokenize_recipe(f"{inputs}/*.parquet", out, steps(bpe), workers=2))
    assert token_files(out) == token_files(reference)


def test_file_size_and_partitions_do_not_change_the_order(setup, reference: Path, tmp_path: Path) -> None:
    bpe, inputs = setup
    out = tmp_path / "out"
    run(tokenize_recipe(f"{inputs}/*.parquet", out, steps(bpe, max_tokens_per_file=10**9, partitions=7)))
    assert len(manifest(out)["splits"]["train"]["files"]) == 1
    for split in ("train", "validation"):
        assert parquet_docs(out, split) == parquet_docs(reference, split)


def test_seed_changes_the_order_only(setup, reference: Path, tmp_path: Path) -> None:
    bpe, inputs = setup
    out = tmp_path / "out"
    run(tokenize_recipe(f"{inputs}/*.parquet", out, steps(bpe, seed=1, validation_documents=None)))
    ids = [r["id"] for r in parquet_docs(out)]
    ref = [r["id"] for r in parquet_docs(reference) + parquet_docs(reference, "validation")]
    assert ids != ref[:len(ids)] and sorted(ids) == sorted(ref)


def test_validation_fraction_holds_out_about_that_share(setup, tmp_path: Path) -> None:
    bpe, inputs = setup
    out = tmp_path / "out"
    run(tokenize_recipe(f"{inputs}/*.parquet", out, steps(bpe, validation_documents=None, validation_fraction=0.2)))
    held = manifest(out)["splits"]["validation"]["documents"]
    assert 0.14 * SHARDS * ROWS < held < 0.26 * SHARDS * ROWS


KILLS = {
    "encode": lambda out, t: markers(out, "step00_tokenize/_done/encode/*.json") >= 1,
    "write": lambda out, t: any((out / "artifacts" / "tokens").glob(".train_*.tmp-*"))
    if (out / "artifacts" / "tokens").exists() else False,
}


@pytest.mark.parametrize("point", list(KILLS))
def test_killed_then_rerun_gives_the_same_files(setup, reference: Path, tmp_path: Path, point: str) -> None:
    bpe, inputs = setup
    out = tmp_path / "out"
    recipe = write_recipe(tmp_path / "r.yaml", tokenize_recipe(f"{inputs}/*.parquet", out, steps(bpe), workers=2))
    assert kill_when(start(recipe), out, KILLS[point]), f"the run finished before the {point} stage"
    assert not (out / "artifacts" / "tokens" / "tokens.json").exists()
    proc = start(recipe)
    assert proc.wait(timeout=300) == 0, proc.stderr.read().decode()
    assert token_files(out) == token_files(reference)
    assert not list(out.rglob(".*.tmp-*"))
    assert not (out / "_work" / "step00_tokenize" / "data" / "tokens").exists()  # work files dropped


def test_killed_after_writing_before_its_mark(setup, reference: Path, tmp_path: Path) -> None:
    """The write stage finished (files, manifest, work files dropped) but its completion mark was
    never written: the rerun must keep the files as they are, not fail on missing work files."""
    bpe, inputs = setup
    out = tmp_path / "out"
    recipe = tokenize_recipe(f"{inputs}/*.parquet", out, steps(bpe))
    run(recipe)
    shutil.rmtree(out / "_work" / "step00_tokenize" / "_done" / "write")
    (out / "stats.json").unlink()
    run(recipe)
    assert token_files(out) == token_files(reference)


def test_no_document_left_gives_an_empty_manifest(setup, tmp_path: Path) -> None:
    bpe, inputs = setup
    out = tmp_path / "out"
    run(tokenize_recipe(f"{inputs}/*.parquet", out, [{"words_filter": {"min_words": 10**8}}, *steps(bpe)], workers=2))
    m = manifest(out)
    assert m["documents"] == m["tokens"] == 0
    assert m["splits"]["train"]["files"] == m["splits"]["validation"]["files"] == []
    assert sorted(token_files(out)) == ["tokens.json"]


def test_input_without_a_source_column(setup, tmp_path: Path) -> None:
    from tests.core_helpers import write_parquet_shards

    bpe, _inputs = setup
    write_parquet_shards(tmp_path / "in", 2, 40)
    out = tmp_path / "out"
    run(tokenize_recipe(f"{tmp_path}/in/*.parquet", out, steps(bpe, validation_documents=None)))
    train = manifest(out)["splits"]["train"]
    assert train["documents"] == 80 and "sources" not in train and "sources" not in train["files"][0]
