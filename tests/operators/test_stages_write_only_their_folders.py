"""Global operators' stages write only under the work folder and the artifacts folder they are
given: nothing in the current directory, the system's temporary folder or the model cache stays
behind, whether the two folders are local or on an object store (the real S3 server)."""

from __future__ import annotations

import gzip
import json
import random
import tempfile
from pathlib import Path

import pytest

from operators.dedup.decontaminate import Decontaminate
from operators.dedup.exact import ExactDedup
from operators.dedup.lines import LineDedup
from operators.dedup.minhash import MinHashDedup
from operators.lm.train_step import TrainLM
from operators.tokenizer.train import TrainTokenizer, train_on_texts
from operators.tokens.mix_step import Mix
from operators.tokens.tokenize_step import Tokenize
from storage.location import Location
from tests.operators.stage_runner import run_stages, sentence, shard_tables


def everything(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


@pytest.mark.filterwarnings("ignore::operators.lm.cutoffs.SmallCutoffSampleWarning")
@pytest.mark.parametrize("where", ["local", "s3"])
def test_stages_leave_nothing_outside_their_folders(places, tmp_path, monkeypatch, where) -> None:
    rng = random.Random(4)
    texts = [f"{sentence(rng, 30)}\n{sentence(rng, 8)}" for _ in range(120)]
    texts += texts[:20]
    shards = shard_tables(texts, 2, {"source": [("a", "b")[i % 2] for i in range(len(texts))]})
    inputs = tmp_path / "inputs"  # made before the watch starts: the run only reads it
    inputs.mkdir()
    (inputs / "quiz.jsonl.gz").write_bytes(gzip.compress(json.dumps({"text": texts[3]}).encode()))
    train_on_texts(texts, inputs / "tok", vocab_size=300, held_out_documents=0)
    watched = {name: tmp_path / name for name in ("cwd", "tmp", "cache")}
    for folder in watched.values():
        folder.mkdir()
    monkeypatch.chdir(watched["cwd"])
    monkeypatch.setattr(tempfile, "tempdir", str(watched["tmp"]))
    monkeypatch.setenv("PIPELINE_CACHE", str(watched["cache"]))
    work, artifacts = (places[0], places[1]) if where == "local" else (places[2], places[3])
    steps = [ExactDedup(partitions=3), MinHashDedup(partitions=2, verify=True, cc_rounds=2), LineDedup(partitions=2),
             Decontaminate(benchmarks=[str(inputs / "*.jsonl.gz")]), Mix(weights={"a": 1, "b": 1}, unit="bytes"),
             Tokenize(tokenizer=str(inputs / "tok"), partitions=2, validation_documents=3),
             TrainLM(order=3, vocab_size=150, sp_sentences=200, cutoff_documents=20),
             TrainTokenizer(algorithm="unigram", vocab_size=200, held_out_documents=10)]
    for i, op in enumerate(steps):
        run_stages(op, shards, work / f"step{i}", artifacts)
    assert {name: everything(folder) for name, folder in watched.items()} == {"cwd": [], "tmp": [], "cache": []}
    run = Location(tmp_path / "run")
    if where == "s3":
        assert not run.path.exists()
    else:  # every file of the run is under its work or artifacts folder
        assert {p.split("/")[0] for p in everything(run.path)} == {"work", "artifacts"}
        assert "artifacts/tokens/tokens.json" in everything(run.path)
