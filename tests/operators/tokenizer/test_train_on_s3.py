"""train_tokenizer with its work folder and artifacts on an object store (the real S3 server):
the same files, byte for byte, as with local folders, and a later step loads the tokenizer
from the remote artifacts (`artifact:<name>`)."""

from __future__ import annotations

import random

import pytest

from operators.tokenizer.count import TokenCount
from operators.tokenizer.train import TrainTokenizer
from tests.operators.stage_runner import run_stages, sentence, shard_tables, tree


@pytest.mark.parametrize("algorithm", ["bpe", "unigram"])
def test_train_tokenizer_into_s3_artifacts(places, algorithm) -> None:
    rng = random.Random(1)
    shards = shard_tables([sentence(rng, 30) + f" number {i}" for i in range(240)], 2)
    local_work, local_art, s3_work, s3_art = places
    params = {"algorithm": algorithm, "vocab_size": 300, "held_out_documents": 20, "artifact": "tok"}
    local = run_stages(TrainTokenizer(**params), shards, local_work, local_art)
    remote = run_stages(TrainTokenizer(**params), shards, s3_work, s3_art)
    assert {k: v for k, v in remote.metrics.items() if not k.endswith("_seconds")} == \
        {k: v for k, v in local.metrics.items() if not k.endswith("_seconds")}
    published = tree(s3_art)
    assert published == tree(local_art) and "tok/tokenizer.json" in published and "tok/summary.json" in published
    assert tree(s3_work) == {}  # the held-out documents and SentencePiece's files stayed local, then went
    counter = TokenCount(tokenizer="artifact:tok")
    counter.bind_run(s3_art)  # as the executor binds a later step of the same run
    local_counter = TokenCount(tokenizer="artifact:tok")
    local_counter.bind_run(local_art)
    counts = counter(shards[0]).column("token_count")
    assert counts.equals(local_counter(shards[0]).column("token_count")) and counts.to_pylist()[0] > 5
