"""The `tokenize` step's files read by real clients: megatron-core's own IndexedDataset reads
every document, `datasets` loads the Parquet form, byte-level BPE decoding gives back every
document's text exactly, and token totals match the token_count column."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from tokenizers import Tokenizer

from operators.tokens.encoding import TokenEncoder
from tests.conftest import shared_path
from tests.tokens_helpers import manifest, parquet_docs, run, tokenize_recipe, train_bpe


@pytest.fixture(scope="module")
def bpe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_bpe(tmp_path_factory.mktemp("bpe"))


@pytest.fixture(scope="module")
def shard_run(tmp_path_factory: pytest.TempPathFactory, bpe: Path) -> Path:
    """All of corpus_en shard 0 through token_count + tokenize, both formats, files of <= 1M tokens."""
    out = tmp_path_factory.mktemp("shard") / "out"
    shard = shared_path("corpus_en/part-00000.parquet")
    run(tokenize_recipe(str(shard), out, workers=2, batch_size=500, steps=[
        {"token_count": {"tokenizer": str(bpe)}},
        {"tokenize": {"tokenizer": str(bpe), "formats": ["megatron", "parquet"], "max_tokens_per_file": 1_000_000}},
    ]))
    return out


def megatron_documents(folder: Path, split: str = "train") -> list[np.ndarray]:
    from megatron.core.datasets.indexed_dataset import IndexedDataset

    docs: list[np.ndarray] = []
    for idx in sorted(folder.glob(f"{split}_*.idx")):
        ds = IndexedDataset(str(idx.with_suffix("")))
        assert len(ds.document_indices) == len(ds) + 1
        docs += [np.array(ds[i]) for i in range(len(ds))]  # copies: the views die with the dataset's mmap
    return docs


@pytest.mark.slow
def test_megatron_core_reads_every_document_and_bpe_decodes_the_text_back(shard_run: Path, bpe: Path) -> None:
    folder = shard_run / "artifacts" / "tokens"
    source = pq.read_table(shared_path("corpus_en/part-00000.parquet"))
    texts = dict(zip(source.column("id").to_pylist(), source.column("text").to_pylist()))
    m = manifest(shard_run)
    assert m["dtype"] == "uint16" and m["documents"] == len(texts) == source.num_rows
    assert len(m["splits"]["train"]["files"]) > 1  # the size limit split the output
    docs = megatron_documents(folder)
    rows = parquet_docs(shard_run)
    assert len(docs) == len(rows) == len(texts)
    assert sorted(r["id"] for r in rows) == sorted(texts)  # every document once
    tok = Tokenizer.from_file(str(bpe))
    eos = tok.token_to_id("<|endoftext|>")
    decoded = tok.decode_batch([d[:-1].tolist() for d in docs], skip_special_tokens=False)
    for doc, row, text in zip(docs, rows, decoded):
        assert doc.dtype == np.uint16 and doc[-1] == eos
        assert doc.tolist() == row["input_ids"]  # Parquet and Megatron files hold the same documents
        assert text == texts[row["id"]], row["id"]
    # token totals: the token_count column (same tokenizer) plus one EOS per document
    counted = sum(pq.read_table(f, columns=["token_count"]).column("token_count").to_numpy().sum()
                  for f in shard_run.glob("*.parquet"))
    assert m["tokens"] == sum(len(d) for d in docs) == counted + len(docs)
    per_file = [f["tokens"] for f in m["splits"]["train"]["files"]]
    assert all(t <= 1_000_000 for t in per_file) and sum(per_file) == m["tokens"]
    assert m["tokenizer"]["sha256"] and m["tokenizer"]["eos_id"] == eos


@pytest.mark.slow
def test_datasets_loads_the_parquet_form_offline(shard_run: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    import datasets

    files = sorted(str(p) for p in (shard_run / "artifacts" / "tokens").glob("train_*.parquet"))
    ds = datasets.load_dataset("parquet", data_files={"train": files}, cache_dir=str(tmp_path / "cache"))["train"]
    rows = parquet_docs(shard_run)
    assert ds.num_rows == len(rows) == manifest(shard_run)["documents"]
    for i in (0, len(rows) // 2, len(rows) - 1):
        assert ds[i]["input_ids"] == rows[i]["input_ids"] and ds[i]["id"] == rows[i]["id"]


def test_bos_and_eos_wrap_each_document_and_int32_above_uint16(tmp_path: Path, bpe: Path) -> None:
    data = json.loads(bpe.read_text())
    vocab = data["model"]["vocab"]
    token = max(vocab, key=vocab.get)  # a real merged token, moved beyond uint16
    vocab[token] = 70_000
    wide = tmp_path / "wide.json"
    wide.write_text(json.dumps(data))
    enc = TokenEncoder(wide, None, None, add_bos=True)
    assert enc.dtype == np.int32 and enc.max_id == 70_000
    text = token.replace("Ġ", " ")
    out = enc.encode(["", "a b", text])
    assert out.lengths.tolist()[0] == 2
    eos = enc.eos_id
    docs = np.split(out.tokens, np.cumsum(out.lengths)[:-1])
    assert docs[0].tolist() == [enc.bos_id, eos]
    assert docs[1][0] == enc.bos_id and docs[1][-1] == eos and len(docs[1]) > 2
    assert 70_000 in docs[2].tolist()


def test_int32_files_read_by_megatron_core(tmp_path: Path, bpe: Path) -> None:
    data = json.loads(bpe.read_text())
    vocab = data["model"]["vocab"]
    token = max(vocab, key=vocab.get)
    vocab[token] = 70_000
    (tmp_path / "wide").mkdir()
    wide = tmp_path / "wide" / "tokenizer.json"
    wide.write_text(json.dumps(data))
    src = tmp_path / "in.parquet"
    table = pq.read_table(shared_path("corpus_en/part-00001.parquet")).slice(0, 200)
    pq.write_table(table, src)
    out = tmp_path / "out"
    run(tokenize_recipe(str(src), out, steps=[{"tokenize": {"tokenizer": str(wide), "shuffle": False}}]))
    assert manifest(out)["dtype"] == "int32"
    docs = megatron_documents(out / "artifacts" / "tokens")
    tok = Tokenizer.from_file(str(wide))
    assert [d.dtype for d in docs[:1]] == [np.int32]
    # shuffle off: corpus order
    assert tok.decode_batch([d[:-1].tolist() for d in docs], skip_special_tokens=False) == \
        table.column("text").to_pylist()
    assert any(70_000 in d.tolist() for d in docs)


def test_sentencepiece_model_with_its_own_eos(tmp_path: Path) -> None:
    import sentencepiece as spm

    from operators.tokenizer.train import train_on_texts

    table = pq.read_table(shared_path("corpus_en/part-00002.parquet")).slice(0, 300)
    train_on_texts(table.column("text").to_pylist(), tmp_path / "spm", algorithm="sentencepiece_unigram",
                   vocab_size=800, held_out_documents=0)
    model = tmp_path / "spm" / "tokenizer.model"
    src = tmp_path / "in.parquet"
    pq.write_table(table, src)
    out = tmp_path / "out"
    run(tokenize_recipe(str(src), out, steps=[{"tokenize": {"tokenizer": str(model), "shuffle": False,
                                                            "add_bos": True}}]))
    sp = spm.SentencePieceProcessor(model_file=str(model))
    m = manifest(out)
    assert (m["tokenizer"]["eos_id"], m["tokenizer"]["bos_id"]) == (sp.eos_id(), sp.bos_id()) == (2, 1)
    docs = megatron_documents(out / "artifacts" / "tokens")
    expected = sp.encode(table.column("text").to_pylist())
    assert [d.tolist() for d in docs] == [[1, *ids, 2] for ids in expected]
