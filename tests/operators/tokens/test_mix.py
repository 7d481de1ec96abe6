"""The `mix` step on corpus_en: weights per `source` realized within 1% (or one document), epochs
never above the cap, repeats written by `tokenize`, and clear errors for impossible mixtures."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from pipeline.recipe import RecipeError, validate_recipe
from pipeline.runner import StepError
from tests.conftest import shared_path
from tests.tokens_helpers import manifest, parquet_docs, run, tokenize_recipe, train_bpe, write_sample

WEIGHTS = {"imdb": 0.3, "reuters21578": 0.25, "20newsgroups": 0.2, "bbc_news": 0.15, "wikitext2": 0.1}


def source_sizes(files: list[Path]) -> tuple[Counter, Counter]:
    """UTF-8 bytes and documents per source."""
    size, docs = Counter(), Counter()
    for f in files:
        t = pq.read_table(f, columns=["text", "source"])
        for s, n in zip(t.column("source").to_pylist(), pc.binary_length(t.column("text")).to_pylist()):
            size[s] += n
            docs[s] += 1
    return size, docs


def output_sizes(out: Path, column: str = "text") -> Counter:
    """Size per source of the mixture: each kept document's bytes times its copies."""
    realized = Counter()
    for f in sorted(out.glob("*.parquet")):
        t = pq.read_table(f, columns=[column, "source", "mix_copies"])
        sizes = pc.binary_length(t.column(column)).to_pylist() if column == "text" else t.column(column).to_pylist()
        for s, n, k in zip(t.column("source").to_pylist(), sizes, t.column("mix_copies").to_pylist()):
            realized[s] += n * k
    return realized


@pytest.mark.slow
def test_weights_per_source_on_all_of_corpus_en(tmp_path: Path) -> None:
    files = sorted(shared_path("corpus_en").glob("part-*.parquet"))
    available, docs = source_sizes(files)
    # as large as the 4-epoch cap allows for the smallest sources, so that some are repeated
    total = int(0.95 * min(4 * available[s] / w for s, w in WEIGHTS.items()))
    out = tmp_path / "out"
    stats = run(tokenize_recipe(f"{shared_path('corpus_en')}/part-*.parquet", out, workers=2, batch_size=2000, steps=[
        {"mix": {"weights": WEIGHTS, "total_tokens": total, "unit": "bytes", "seed": 3}}]))
    realized = output_sizes(out)
    whole = sum(realized.values())
    largest_doc = 0
    for f in files:
        largest_doc = max(largest_doc, pc.max(pc.binary_length(pq.read_table(f, columns=["text"]).column("text"))).as_py())
    epochs = {s: realized[s] / available[s] for s in WEIGHTS}
    for s, w in WEIGHTS.items():
        asked = w * total
        assert abs(realized[s] - asked) <= max(0.01 * asked, largest_doc), s
        assert abs(realized[s] / whole - w) < 0.01, s
        assert epochs[s] <= 4.0, s
    assert max(epochs.values()) > 2 and min(epochs.values()) < 1  # both repeats and downsampling happened
    assert set(realized) == set(WEIGHTS)
    step = stats["steps"][0]
    assert step["removed"]["mix:not_in_mixture"] == sum(docs[s] for s in docs if s not in WEIGHTS)
    assert step["removed"]["mix:downsampled"] > 0
    for s in WEIGHTS:  # the realized mixture is in stats.json
        assert step["metrics"][f"mix:{s}:tokens_after"] == realized[s]
        assert step["metrics"][f"mix:{s}:tokens_before"] == available[s]
        assert step["metrics"][f"mix:{s}:epochs"] == pytest.approx(epochs[s], abs=1e-5)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("mix")
    return train_bpe(folder / "bpe"), write_sample(folder / "in", 2, 600)


def test_token_shares_in_the_token_files(sample, tmp_path: Path) -> None:
    bpe, inputs = sample
    weights = {"imdb": 0.4, "reuters21578": 0.3, "20newsgroups": 0.2, "bbc_news": 0.1}
    out = tmp_path / "out"
    stats = run(tokenize_recipe(f"{inputs}/*.parquet", out, workers=2, steps=[
        {"token_count": {"tokenizer": str(bpe)}},
        {"mix": {"weights": weights, "total_tokens": 400_000}},
        {"tokenize": {"tokenizer": str(bpe), "formats": ["parquet"]}}]))
    sources = manifest(out)["splits"]["train"]["sources"]
    content = {s: c["tokens"] - c["documents"] for s, c in sources.items()}  # without the EOS of each document
    assert set(content) == set(weights)
    assert content == output_sizes(out, "token_count")
    whole = sum(content.values())
    for s, w in weights.items():
        assert abs(content[s] / whole - w) < 0.01, s
        assert stats["steps"][1]["metrics"][f"mix:{s}:epochs"] <= 4.0
    assert max(stats["steps"][1]["metrics"][f"mix:{s}:epochs"] for s in weights) > 1
    # a repeated document is written as many times as its copies, each at its own place
    copies = {}
    for f in out.glob("*.parquet"):
        t = pq.read_table(f, columns=["id", "mix_copies"])
        copies.update(zip(t.column("id").to_pylist(), t.column("mix_copies").to_pylist()))
    written = Counter(r["id"] for r in parquet_docs(out))
    assert written == Counter({i: k for i, k in copies.items()})
    assert max(written.values()) > 1


def test_a_mixture_beyond_the_epoch_cap_is_refused(sample, tmp_path: Path) -> None:
    bpe, inputs = sample
    out = tmp_path / "out"
    recipe = tokenize_recipe(f"{inputs}/*.parquet", out, steps=[
        {"mix": {"weights": {"imdb": 0.5, "bbc_news": 0.5}, "total_tokens": 10**9, "unit": "bytes"}},
        {"tokenize": {"tokenizer": str(bpe)}}])
    with pytest.raises(StepError, match=r"'bbc_news' would need [\d.]+ epochs .*above max_epochs 4 .*Muennighoff"):
        run(recipe)
    assert not (out / "artifacts" / "tokens").exists()


def test_weights_naming_an_absent_source(sample, tmp_path: Path) -> None:
    bpe, inputs = sample
    out = tmp_path / "out"
    recipe = tokenize_recipe(f"{inputs}/*.parquet", out, steps=[
        {"mix": {"weights": {"imdb": 1, "wikipedia": 1}, "unit": "bytes"}}, {"tokenize": {"tokenizer": str(bpe)}}])
    with pytest.raises(StepError, match=r"mix names 'wikipedia' but column 'source' has no such value \(present: "):
        run(recipe)
    assert not (out / "artifacts" / "tokens").exists() and not list(out.glob("*.parquet"))


def test_tokens_unit_without_a_token_count_column(sample, tmp_path: Path) -> None:
    _bpe, inputs = sample
    with pytest.raises(StepError, match="unit tokens needs the column 'token_count': add a token_count step"):
        run(tokenize_recipe(f"{inputs}/*.parquet", tmp_path / "out", steps=[{"mix": {"weights": {"imdb": 1}}}]))


@pytest.mark.parametrize("params, message", [
    ({"weights": {"imdb": -1, "bbc_news": 2}}, "negative weights for 'imdb'"),
    ({"weights": {"imdb": 0, "bbc_news": 0}}, "every weight/target is zero"),
    ({"targets": {"imdb": -5}}, "negative targets for 'imdb'"),
    ({"weights": {"imdb": 1}, "targets": {"imdb": 1}}, "give weights or targets"),
    ({}, "give weights or targets"),
])
def test_bad_weights_stop_the_recipe_before_any_work(sample, tmp_path: Path, params: dict, message: str) -> None:
    _bpe, inputs = sample
    out = tmp_path / "out"
    with pytest.raises(RecipeError) as err:
        validate_recipe(tokenize_recipe(f"{inputs}/*.parquet", out, steps=[{"mix": params}]))
    assert message in str(err.value)
    assert not out.exists()


def test_targets_per_source(sample, tmp_path: Path) -> None:
    _bpe, inputs = sample
    available, _docs = source_sizes(sorted(inputs.glob("*.parquet")))
    targets = {"imdb": available["imdb"] // 2, "bbc_news": int(available["bbc_news"] * 2.5)}
    out = tmp_path / "out"
    run(tokenize_recipe(f"{inputs}/*.parquet", out, steps=[{"mix": {"targets": targets, "unit": "bytes"}}]))
    realized = output_sizes(out)
    assert set(realized) == set(targets)
    for s, t in targets.items():
        assert abs(realized[s] - t) <= 0.01 * t, s


def test_report_shows_the_mixture_and_budgets_the_packed_tokens(sample, tmp_path: Path) -> None:
    from pipeline.report import write_report

    bpe, inputs = sample
    out = tmp_path / "out"
    stats = run(tokenize_recipe(f"{inputs}/*.parquet", out, steps=[
        {"mix": {"weights": {"imdb": 0.8, "bbc_news": 0.2}, "unit": "bytes", "total_tokens": 400_000}},
        {"tokenize": {"tokenizer": str(bpe), "validation_documents": 5}}]))
    html = (write_report(out)).read_text()
    mixture = html[html.index('id="mixture"'):html.index('id="budget"')]
    for s in ("imdb", "bbc_news"):
        assert f"<td>{s}</td>" in mixture
        assert f"{100 * stats['steps'][0]['metrics'][f'mix:{s}:share']:.2f}%" in mixture
    budget = html[html.index('id="budget"'):]
    assert "tokens written to the training files by the tokenize step" in budget
    train_tokens = manifest(out)["splits"]["train"]["tokens"]
    assert stats["steps"][1]["metrics"]["tokenize:train_tokens"] == train_tokens
    from pipeline.report.html import fmt_si

    assert f'<div class="v">{fmt_si(train_tokens)}</div>' in budget
