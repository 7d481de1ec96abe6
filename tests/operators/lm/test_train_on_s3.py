"""train_lm with its work folder and artifacts on an object store (the real S3 server): the same
model files, byte for byte, as with local folders, its reference text named by URL, and a later
perplexity_filter of the run loading it from there (`artifact:<name>`)."""

from __future__ import annotations

import json
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from operators.lm.perplexity_filter import PerplexityFilter
from operators.lm.train_step import TrainLM
from pipeline.io.documents import read_documents
from storage import files
from tests.operators.lm.test_estimator import lmplz  # noqa: F401  (fixture)
from tests.operators.stage_runner import run_stages, sentence, shard_tables, tree

SMALL = {"order": 3, "vocab_size": 200, "sp_sentences": 500, "cutoff_documents": 50}


def texts(seed: int, n: int) -> list[str]:
    rng = random.Random(seed)
    return [f"{sentence(rng, rng.randrange(8, 30))}.\n{sentence(rng, 12)}." for _ in range(n)]


def same_model(local: dict[str, bytes], remote: dict[str, bytes], remote_folder: str) -> None:
    """Every file identical; model.json too, but for its timings and the folder it names."""
    info = {k: json.loads(v) for k, v in (("local", local.pop("lm/model.json")), ("remote", remote.pop("lm/model.json")))}
    assert info["remote"]["folder"] == remote_folder
    for data in info.values():
        data.pop("seconds"), data.pop("folder")
    assert info["remote"] == info["local"] and remote == local
    assert {"lm/lm.arpa", "lm/sp.model", "lm/cutoffs.json"} <= set(remote)


def scores(folder_ref_artifacts, table: pa.Table) -> list[float]:
    f = PerplexityFilter(model="artifact:lm")
    f.bind_run(folder_ref_artifacts)  # as the executor binds a later step of the same run
    return f.compute_stats(table).column("perplexity").to_pylist()


@pytest.mark.filterwarnings("ignore::operators.lm.cutoffs.SmallCutoffSampleWarning")
def test_train_lm_on_its_input_into_s3(places) -> None:
    shards = shard_tables(texts(1, 240), 2)
    local_work, local_art, s3_work, s3_art = places
    local = run_stages(TrainLM(**SMALL), shards, local_work, local_art)
    remote = run_stages(TrainLM(**SMALL), shards, s3_work, s3_art)
    assert remote.metrics == local.metrics and local.metrics["train_lm:documents"] == 240
    same_model(tree(local_art), tree(s3_art), str(s3_art / "lm"))
    assert tree(s3_work) == {} and tree(local_work) == {}  # the training text's work files are gone
    probe = pa.table({"text": texts(9, 20)})
    assert scores(s3_art, probe) == scores(local_art, probe)


@pytest.mark.filterwarnings("ignore::operators.lm.cutoffs.SmallCutoffSampleWarning")
def test_train_lm_with_lmplz_and_binary_from_a_reference_on_s3(places, tmp_path, lmplz) -> None:  # noqa: F811
    reference = pa.table({"text": texts(2, 300)})
    pq.write_table(reference, tmp_path / "reference.parquet")
    url = str(places[2].parent / "reference" / "wiki.parquet")
    files.write_bytes(url, (tmp_path / "reference.parquet").read_bytes())
    params = {**SMALL, "estimator": "lmplz", "binary": True}
    shards = shard_tables(texts(3, 40), 2)
    local_work, local_art, s3_work, s3_art = places
    local = run_stages(TrainLM(reference=str(tmp_path / "reference.parquet"), **params), shards, local_work, local_art,
                       read_files=read_documents)
    remote = run_stages(TrainLM(reference=url, **params), shards, s3_work, s3_art, read_files=read_documents)
    assert remote.metrics == local.metrics and local.metrics["train_lm:documents"] == 270  # 10% held out
    remote_files, local_files = tree(s3_art), tree(local_art)
    assert remote_files.pop("lm/lm.binary") and local_files.pop("lm/lm.binary")  # KenLM's binary: present
    same_model(local_files, remote_files, str(s3_art / "lm"))
