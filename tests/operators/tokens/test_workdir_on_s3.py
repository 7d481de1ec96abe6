"""mix and tokenize with their work folder and artifacts on an object store (the real S3 server):
the same decisions and token files, byte for byte, as with local folders; the tokenizer itself
named by URL; the work files deleted from the store at the end."""

from __future__ import annotations

import random

import pyarrow as pa

from operators.tokenizer.train import train_on_texts
from operators.tokens.mix_step import Mix
from operators.tokens.tokenize_step import Tokenize
from storage import files
from tests.operators.stage_runner import run_stages, sentence, shard_tables, tree


def test_mix_then_tokenize_on_s3(places, tmp_path) -> None:
    rng = random.Random(5)
    texts = [sentence(rng, rng.randrange(5, 60)) for _ in range(300)]
    sources = [("news", "books", "web")[i % 3] for i in range(300)]
    shards = shard_tables(texts, 3, {"source": sources})
    local_work, local_art, s3_work, s3_art = places
    mix = {"weights": {"news": 0.5, "books": 0.3, "web": 0.2}, "unit": "bytes", "max_epochs": 3, "total_tokens": 60000}
    local = run_stages(Mix(**mix), shards, local_work / "mix", local_art)
    remote = run_stages(Mix(**mix), shards, s3_work / "mix", s3_art)
    assert remote.removed == local.removed and remote.kept.equals(local.kept) and remote.metrics == local.metrics
    assert max(local.kept.column("mix_copies").to_pylist()) > 1 and local.removed
    assert tree(s3_work / "mix") == tree(local_work / "mix")

    train_on_texts(texts, tmp_path / "tok", vocab_size=300, held_out_documents=0)
    url = str(s3_art.parent / "models" / "tok" / "tokenizer.json")
    files.write_bytes(url, (tmp_path / "tok" / "tokenizer.json").read_bytes())
    # the mix's kept rows, in shards again: what tokenize reads after mix
    kept = local.kept
    by_shard = [kept.filter(pa.compute.equal(pa.compute.shift_right(kept.column("_doc_key"), 40), s))
                for s in range(3)]
    params = {"tokenizer": url, "formats": ["megatron", "parquet"], "validation_documents": 7, "partitions": 3,
              "max_tokens_per_file": 2000}
    local_tok = run_stages(Tokenize(**params), by_shard, local_work / "tokenize", local_art)
    remote_tok = run_stages(Tokenize(**params), by_shard, s3_work / "tokenize", s3_art)
    assert remote_tok.metrics == local_tok.metrics and local_tok.metrics["tokenize:validation_documents"] == 7
    written = tree(s3_art / "tokens")
    assert written == tree(local_art / "tokens") and "tokens.json" in written
    assert {"train_00000.bin", "train_00000.idx", "train_00000.parquet", "validation_00000.bin"} <= set(written)
    assert local_tok.metrics["tokenize:files"] > 3
    assert tree(s3_work / "tokenize") == {} and tree(local_work / "tokenize") == {}  # work files deleted
    # an attempt killed after it finished but before its completion mark runs again: it keeps the files
    # (an object store may still list the emptied work folders: S3 servers that are file systems do)
    again = Tokenize(**params)
    run_stages(again, by_shard, s3_work / "tokenize", s3_art, stages=["write"])
    assert tree(s3_art / "tokens") == written
