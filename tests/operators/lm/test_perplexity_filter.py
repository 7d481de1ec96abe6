"""perplexity_filter and the models it uses: CCNet's formula, per-language models, buckets,
bad input, the corpus_en check (news vs chat vs shuffled words), and train_lm in a recipe."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xxhash

from operators.lm.normalize import normalize_line
from operators.lm.perplexity_filter import PerplexityFilter
from operators.lm.scoring import ModelFolderError, PerplexityModel
from operators.lm.training import LMConfig, TrainingError, train_language_model
from tests.conftest import ROOT, shared_path

REFERENCE = {"bbc_news", "reuters21578", "wikitext2"}
NEWS = {"bbc_news", "reuters21578"}
SMALL = LMConfig(vocab_size=6000, sp_sentences=10_000)


def held_out(doc_id: str) -> bool:
    return xxhash.xxh64_intdigest(doc_id.encode()) % 8 == 0


@pytest.fixture(scope="module")
def corpus() -> dict[str, list[str]]:
    shard = sorted(shared_path("corpus_en").glob("part-*.parquet"))[0]
    rows = pq.read_table(shard, columns=["id", "text", "source"]).to_pylist()
    out: dict[str, list[str]] = {"train": [], "held_news": [], "chat": []}
    for r in rows:
        if r["source"] in REFERENCE and not (r["source"] in NEWS and held_out(r["id"])):
            out["train"].append(r["text"])
        elif r["source"] in NEWS:
            out["held_news"].append(r["text"])
        elif r["source"] == "nltk_misc":
            out["chat"].append(r["text"])
    return out


@pytest.fixture(scope="module")
def news_model(corpus, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("models") / "en"
    report = train_language_model(corpus["train"], folder, SMALL, cutoff_texts=corpus["held_news"] + corpus["chat"])
    assert report.order == 5 and report.tokens > 100_000
    return folder


@pytest.fixture(scope="module")
def fr_model(tmp_path_factory) -> Path:
    path = shared_path("langid/genesis.jsonl.gz")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        texts = [r["text"] for r in map(json.loads, f) if r["lang"] == "fr"]
    folder = tmp_path_factory.mktemp("models") / "fr"
    train_language_model(texts[:1200], folder, LMConfig(vocab_size=2000, sp_sentences=5000, order=4, lang="fr"))
    return folder


def shuffled(text: str, seed: int) -> str:
    words = text.split()
    random.Random(seed).shuffle(words)
    return " ".join(words)


def test_corpus_en_news_beats_chat_and_shuffled_words(corpus, news_model):
    model = PerplexityModel(news_model)
    held = model.perplexity(corpus["held_news"])
    chat = model.perplexity(corpus["chat"])
    mixed = model.perplexity([shuffled(t, i) for i, t in enumerate(corpus["held_news"])])
    med = {k: float(np.nanmedian(v)) for k, v in (("held_news", held), ("chat", chat), ("shuffled", mixed))}
    print(f"median perplexity on corpus_en shard 0: {med} ({len(held)} held-out news, {len(chat)} nltk_misc)")
    assert med["held_news"] < med["chat"]
    assert med["held_news"] < med["shuffled"]
    assert med["shuffled"] > 1.5 * med["held_news"]


def test_ccnet_formula_by_hand(news_model):
    import kenlm
    import sentencepiece as spm

    doc = "Shares of the Company ROSE 12% on Monday.\n\n   \nThe bank said profits fell in 1987."
    sp = spm.SentencePieceProcessor(model_file=str(news_model / "sp.model"))
    lm = kenlm.Model(str(news_model / "lm.arpa"))
    total, length = 0.0, 0
    for line in doc.split("\n"):
        norm = normalize_line(line)
        if not norm:
            continue  # blank lines are not scored
        pieces = sp.encode(norm, out_type=str)
        total += lm.score(" ".join(pieces), bos=True, eos=True)
        length += len(pieces) + 1
    expected = 10 ** (-total / length)
    got = PerplexityModel(news_model).perplexity([doc])[0]
    assert got == pytest.approx(expected, rel=1e-12)
    # unit=document scores the whole normalized document as one line (newlines deleted)
    one_line = sp.encode(normalize_line(doc.replace("\n", "")), out_type=str)
    expected_doc = 10 ** (-lm.score(" ".join(one_line)) / (len(one_line) + 1))
    assert PerplexityModel(news_model).perplexity([doc], unit="document")[0] == pytest.approx(expected_doc, rel=1e-12)


def table_of(texts: list[str], **columns) -> pa.Table:
    data = {"id": [f"d{i}" for i in range(len(texts))], "text": texts, **columns}
    return pa.table(data).append_column("_doc_key", pa.array(np.arange(len(texts), dtype=np.int64)))


def test_max_perplexity_and_buckets(corpus, news_model):
    docs = corpus["held_news"][:40] + corpus["chat"][:40]
    direct = PerplexityModel(news_model).perplexity(docs)
    limit = float(np.median(direct))
    op = PerplexityFilter(model=str(news_model), max_perplexity=limit)
    kept, removed, reasons = op.run(table_of(docs))
    assert kept.num_rows + removed.num_rows == len(docs)
    assert set(reasons.to_pylist()) == {"perplexity_filter:too_high"}
    assert all(p <= limit for p in kept.column("perplexity").to_pylist())
    assert sorted(removed.column("perplexity").to_pylist()) == sorted(p for p in direct if p > limit)

    cut = json.loads((news_model / "cutoffs.json").read_text())["percentiles"]
    op = PerplexityFilter(model=str(news_model), keep_buckets=["head", "middle"])
    kept, removed, reasons = op.run(table_of(docs))
    for p, b in zip(kept.column("perplexity").to_pylist(), kept.column("perplexity_bucket").to_pylist()):
        assert b == ("head" if p < cut["30"] else "middle") and p < cut["60"]
    assert set(removed.column("perplexity_bucket").to_pylist()) == {"tail"}
    assert set(reasons.to_pylist()) == {"perplexity_filter:tail"}
    assert op.stat_thresholds() == {"perplexity": (None, None)}


def test_models_per_language(news_model, fr_model):
    en = "The central bank raised interest rates on Tuesday, the government said."
    fr = "Au commencement, Dieu créa les cieux et la terre."
    de = "Am Anfang schuf Gott Himmel und Erde."
    table = table_of([en, fr, de, fr], lang=["en", "fr", "de", None])
    op = PerplexityFilter(models={"en": str(news_model), "fr": str(fr_model)})
    kept, removed, reasons = op.run(table)
    assert kept.column("text").to_pylist() == [en, fr]
    assert reasons.to_pylist() == ["perplexity_filter:no_model"] * 2
    pp = dict(zip(kept.column("lang").to_pylist(), kept.column("perplexity").to_pylist()))
    assert pp["en"] == pytest.approx(PerplexityModel(news_model).perplexity([en])[0])
    assert pp["fr"] == pytest.approx(PerplexityModel(fr_model).perplexity([fr])[0])
    assert pp["fr"] < PerplexityModel(news_model).perplexity([fr])[0]  # French text scores better under French

    kept, removed, _ = PerplexityFilter(models={"en": str(news_model)}, missing_model="keep").run(table)
    assert kept.num_rows == 4 and kept.column("perplexity").null_count == 3
    with pytest.raises(ValueError, match=r"no model for language 'de'.*without a model here: \['', 'de'\]"):
        PerplexityFilter(models={"en": str(news_model), "fr": str(fr_model)}, missing_model="error").run(table)
    with pytest.raises(ValueError, match="'lang' column"):
        PerplexityFilter(models={"en": str(news_model)}).run(table_of([en]))


def test_bad_input(news_model):
    docs = ["1234 5678 90", "!!! ??? ... ---", "", "  \n\t\n ", "€ § ¶ ©", None]
    kept, removed, reasons = PerplexityFilter(model=str(news_model)).run(table_of(docs))
    got = dict(zip(kept.column("text").to_pylist(), kept.column("perplexity").to_pylist()))
    assert set(got) == {"1234 5678 90", "!!! ??? ... ---", "€ § ¶ ©"}
    assert all(np.isfinite(p) and p > 1 for p in got.values())
    assert reasons.to_pylist() == ["perplexity_filter:no_text"] * 3
    assert removed.column("perplexity").null_count == 3
    empty = PerplexityFilter(model=str(news_model)).run(table_of([]))
    assert empty[0].num_rows == 0 and "perplexity" in empty[0].column_names


def test_model_errors(tmp_path):
    with pytest.raises(ModelFolderError, match="not found"):
        PerplexityFilter(model=str(tmp_path / "nope")).run(table_of(["text"]))
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "sp.model").write_bytes(b"")
    with pytest.raises(ModelFolderError, match="lacks lm.arpa"):
        PerplexityFilter(model=str(tmp_path / "half")).run(table_of(["text"]))
    with pytest.raises(ValueError, match="exactly one"):
        PerplexityFilter()
    with pytest.raises(TrainingError, match="no text"):
        train_language_model(["", "  \n  ", None], tmp_path / "empty")


def test_train_lm_then_filter_in_a_recipe(tmp_path):
    from pipeline.recipe import validate_recipe
    from pipeline.runner import run_recipe

    def run(workers: int) -> Path:
        recipe = validate_recipe({
            "input": {"path": str(ROOT / "configs/sample_data/part-*"), "text_column": "text", "id_column": "id"},
            "output": {"path": str(tmp_path / f"out{workers}"), "report": False},
            "executor": {"type": "local", "workers": workers},
            "steps": [{"train_lm": {"artifact": "lm/en", "order": 3, "vocab_size": 1000, "cutoff_documents": 200}},
                      {"perplexity_filter": {"model": "artifact:lm/en", "keep_buckets": ["head", "middle"]}}],
        })
        result = run_recipe(recipe)
        assert result.stats["input"]["documents"] == 364
        return result.out

    out = run(2)
    folder = out / "artifacts" / "lm" / "en"
    assert {"sp.model", "lm.arpa", "cutoffs.json", "model.json"} <= {p.name for p in folder.iterdir()}
    kept = pa.concat_tables([pq.read_table(p) for p in sorted(out.glob("*.parquet"))], promote_options="default")
    direct = PerplexityModel(folder).perplexity(kept.column("text").to_pylist())
    assert np.allclose(kept.column("perplexity").to_numpy(), direct)
    assert set(kept.column("perplexity_bucket").to_pylist()) <= {"head", "middle"}
    # no reference: the cutoffs come from the (trained-on) input, which they split about 30/30/40
    cutoffs = json.loads((folder / "cutoffs.json").read_text())
    assert cutoffs["source"] == "training documents" and cutoffs["trained_on"] is True
    assert kept.num_rows / 364 == pytest.approx(0.6, abs=0.1)
    # same models and output with one worker
    out1 = run(1)
    for name in ("sp.model", "lm.arpa", "cutoffs.json"):
        assert (out1 / "artifacts/lm/en" / name).read_bytes() == (folder / name).read_bytes()
    kept1 = pa.concat_tables([pq.read_table(p) for p in sorted(out1.glob("*.parquet"))], promote_options="default")
    assert kept1.column("id").to_pylist() == kept.column("id").to_pylist()


CORPUS_NEWS = ["reuters21578", "bbc_news"]


def news_of_shards(first: int, last: int) -> pa.Table:
    shards = sorted(shared_path("corpus_en").glob("part-*.parquet"))[first:last]
    table = pa.concat_tables([pq.read_table(p, columns=["id", "text", "source"]) for p in shards])
    return table.filter(pa.compute.is_in(table["source"], pa.array(CORPUS_NEWS)))


def bucket_shares(out: Path) -> dict[str, float]:
    parts = [pq.read_table(p, columns=["perplexity_bucket"]) for p in sorted(out.glob("*.parquet"))]
    parts += [pq.read_table(p, columns=["perplexity_bucket"]) for p in sorted(out.glob("rejected/*/*.parquet"))]
    buckets = pa.concat_tables(parts).column("perplexity_bucket").to_pylist()
    return {b: buckets.count(b) / len(buckets) for b in ("head", "middle", "tail")}


def filter_recipe(corpus: Path, out: Path, steps: list[dict]) -> dict:
    return {"input": {"path": str(corpus), "text_column": "text", "id_column": "id"},
            "output": {"path": str(out), "report": False},
            "executor": {"type": "local", "workers": 1}, "steps": steps}


@pytest.mark.slow
def test_cutoffs_bucket_new_text_of_the_reference_kind_30_30_40(tmp_path):
    """train-lm without a cutoff sample, then a bucket filter on unseen news of the same sources:
    the cutoffs come from held-out reference documents, so the shares are about CCNet's 30/30/40
    (with cutoffs from the training documents: 2% / 2% / 96%)."""
    from pipeline.cli import main
    from pipeline.recipe import validate_recipe
    from pipeline.runner import run_recipe

    shards = sorted(shared_path("corpus_en").glob("part-*.parquet"))
    model = tmp_path / "model"
    assert main(["train-lm", str(shards[0]), str(shards[1]), "--where", "source=" + ",".join(CORPUS_NEWS),
                 "--out", str(model), "--vocab-size", "6000", "--sp-sentences", "10000"]) == 0
    cutoffs = json.loads((model / "cutoffs.json").read_text())
    assert cutoffs["source"] == "held-out reference documents" and cutoffs["documents"] == 299
    new_news = news_of_shards(2, 3)
    pq.write_table(new_news, tmp_path / "news.parquet")
    recipe = validate_recipe(filter_recipe(tmp_path / "news.parquet", tmp_path / "out", [
        {"perplexity_filter": {"model": str(model), "keep_buckets": ["head", "middle"]}}]))
    result = run_recipe(recipe)
    shares = bucket_shares(result.out)
    print(f"bucket shares of {new_news.num_rows} unseen news documents: {shares}")
    assert shares["head"] == pytest.approx(0.3, abs=0.08) and shares["middle"] == pytest.approx(0.3, abs=0.08)
    assert shares["tail"] == pytest.approx(0.4, abs=0.08)
    assert result.kept / new_news.num_rows == pytest.approx(shares["head"] + shares["middle"])


@pytest.mark.slow
def test_train_lm_then_buckets_in_a_recipe_on_corpus_en(tmp_path):
    """The same in one recipe: train_lm on reference news (shards 0-1), the bucket filter on the
    input (news of shard 3, never trained on) keeps head + middle, about 60%."""
    from pipeline.recipe import validate_recipe
    from pipeline.runner import run_recipe

    shards = sorted(shared_path("corpus_en").glob("part-*.parquet"))
    corpus = news_of_shards(3, 4)
    pq.write_table(corpus, tmp_path / "news.parquet")
    recipe = validate_recipe(filter_recipe(tmp_path / "news.parquet", tmp_path / "out", [
        {"train_lm": {"artifact": "lm", "reference": [str(shards[0]), str(shards[1])],
                      "reference_where": {"source": CORPUS_NEWS}, "vocab_size": 6000, "sp_sentences": 10000}},
        {"perplexity_filter": {"model": "artifact:lm", "keep_buckets": ["head", "middle"]}}]))
    result = run_recipe(recipe)
    shares = bucket_shares(result.out)
    print(f"bucket shares of {corpus.num_rows} news documents of the input: {shares}")
    assert json.loads((result.out / "artifacts/lm/cutoffs.json").read_text())["source"] == "held-out reference documents"
    assert shares["head"] == pytest.approx(0.3, abs=0.08) and shares["tail"] == pytest.approx(0.4, abs=0.08)
    assert result.kept / corpus.num_rows == pytest.approx(0.6, abs=0.1)
