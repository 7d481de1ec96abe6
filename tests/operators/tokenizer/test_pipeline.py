"""train_tokenizer inside a recipe run (artifacts, metrics, worker counts), the token_count mapper,
and the `pipeline train-tokenizer` command."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tokenizers import Tokenizer

from operators.tokenizer.count import TokenCount
from operators.tokenizer.train import train_on_texts
from pipeline.cli import main
from pipeline.recipe import load_recipe, validate_recipe
from pipeline.runner import run_recipe
from tests.operators.tokenizer.test_train import make_corpus

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    return make_corpus(300, seed=1)


@pytest.fixture(scope="module")
def input_dir(tmp_path_factory: pytest.TempPathFactory, corpus: list[str]) -> Path:
    folder = tmp_path_factory.mktemp("in")
    for part in range(2):
        docs = corpus[part * 150:(part + 1) * 150]
        pq.write_table(pa.table({"id": [f"p{part}-{i}" for i in range(len(docs))], "text": docs}),
                       folder / f"part-{part}.parquet")
    return folder


def run(input_dir: Path, out: Path, workers: int) -> dict:
    recipe = validate_recipe({
        "input": {"path": str(input_dir / "*.parquet"), "batch_size": 64},
        "output": {"path": str(out), "report": False},
        "executor": {"type": "local", "workers": workers},
        "steps": [
            {"train_tokenizer": {"algorithm": "bpe", "vocab_size": 500, "artifact": "bpe", "held_out_documents": 20}},
            {"token_count": {"tokenizer": "artifact:bpe"}},
        ],
    })
    return run_recipe(recipe, progress=False).stats


def test_recipe_trains_then_counts_tokens(input_dir, tmp_path, corpus):
    stats = run(input_dir, tmp_path / "one", workers=1)
    folder = tmp_path / "one" / "artifacts" / "bpe"
    assert {"tokenizer.json", "tokenizer_config.json", "summary.json", "summary.md"} <= {p.name for p in folder.iterdir()}
    train_step, count_step = stats["steps"]
    assert stats["output"]["documents"] == 300 and stats["removed"] == 0  # the training step keeps every row
    assert train_step["metrics"]["tokenizer:train_documents"] == 280
    assert train_step["metrics"]["tokenizer:vocab_size"] == 500
    out = pq.read_table(sorted((tmp_path / "one").glob("part-*.parquet")))
    assert out.schema.field("token_count").type == pa.int64()
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    expected = {t: len(tok.encode(t, add_special_tokens=False).ids) for t in corpus}
    assert [expected[t] for t in out.column("text").to_pylist()] == out.column("token_count").to_pylist()
    assert count_step["metrics"]["tokens"] == sum(expected.values())
    assert not list((tmp_path / "one" / "_work").rglob("*held_out*"))  # no copy of documents left behind

    # two workers: the same tokenizer, byte for byte
    run(input_dir, tmp_path / "two", workers=2)
    for name in ("tokenizer.json", "summary.json"):
        assert (folder / name).read_bytes() == (tmp_path / "two" / "artifacts" / "bpe" / name).read_bytes()


def test_token_count_with_a_sentencepiece_model(corpus, tmp_path):
    import sentencepiece as spm

    train_on_texts(corpus, tmp_path / "sp", algorithm="sentencepiece_bpe", vocab_size=500, held_out_documents=10)
    model = tmp_path / "sp" / "tokenizer.model"
    sp = spm.SentencePieceProcessor(model_file=str(model))
    table = pa.table({"text": corpus[:40]})
    op = TokenCount(tokenizer=str(model))
    kept = op(table)
    assert kept.column("token_count").to_pylist() == [len(sp.encode(t)) for t in corpus[:40]]
    assert op.pop_metrics() == {"tokens": sum(len(sp.encode(t)) for t in corpus[:40])}
    with_specials = TokenCount(tokenizer=str(model), add_special_tokens=True)(table)
    assert with_specials.column("token_count").to_pylist() == [len(sp.encode(t)) + 2 for t in corpus[:40]]  # <s> </s>
    empty = op(table.slice(0, 0))
    assert empty.num_rows == 0 and empty.schema.field("token_count").type == pa.int64()


def test_token_count_missing_tokenizer_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere/tokenizer.json"):
        TokenCount(tokenizer=str(tmp_path / "nowhere" / "tokenizer.json"))(pa.table({"text": ["a"]}))
    with pytest.raises(FileNotFoundError, match="no tokenizer.json or tokenizer.model"):
        TokenCount(tokenizer=str(tmp_path))(pa.table({"text": ["a"]}))
    with pytest.raises(FileNotFoundError, match="outside a recipe run"):
        TokenCount(tokenizer="artifact:bpe")(pa.table({"text": ["a"]}))


def write_jsonl(path: Path, docs: list[str], bad_line: bool = False) -> None:
    lines = [json.dumps({"id": str(i), "text": t}) for i, t in enumerate(docs)]
    if bad_line:
        lines.insert(5, '{"id": "broken", "text": ')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_cli_trains_from_files(corpus, tmp_path):
    src = tmp_path / "docs.jsonl"
    write_jsonl(src, corpus)
    out = tmp_path / "wp"
    code = main(["train-tokenizer", str(src), "--out", str(out), "--algorithm", "wordpiece", "--vocab-size", "500",
                 "--set", "held_out_documents=20", "--set", 'special_tokens=["[UNK]", "[CLS]", "[SEP]"]'])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["algorithm"] == "wordpiece" and summary["vocab_size"] == 500
    assert summary["special_tokens"] == {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2}
    assert summary["training"]["documents"] == 280


def test_cli_takes_parameters_from_the_shipped_recipe(corpus, tmp_path):
    recipe = load_recipe(ROOT / "configs" / "tokenizer.yaml", check_input=False)
    assert any("train_tokenizer" in step for step in recipe.steps)
    src = tmp_path / "docs.jsonl"
    write_jsonl(src, corpus)
    code = main(["train-tokenizer", str(src), "--out", str(tmp_path / "t"), "--params",
                 str(ROOT / "configs" / "tokenizer.yaml"), "--vocab-size", "400", "--set", "held_out_documents=20"])
    assert code == 0
    summary = json.loads((tmp_path / "t" / "summary.json").read_text())
    assert summary["parameters"]["max_bytes"] == 500_000_000 and summary["vocab_size"] == 400


def test_cli_bad_record_stops_or_is_skipped_and_counted(corpus, tmp_path, capsys):
    src = tmp_path / "docs.jsonl"
    write_jsonl(src, corpus[:100], bad_line=True)
    args = ["train-tokenizer", str(src), "--out", str(tmp_path / "t"), "--vocab-size", "400",
            "--set", "held_out_documents=10"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "docs.jsonl" in err and "line 6" in err and "invalid_json" in err
    assert not (tmp_path / "t").exists()
    assert main(args + ["--skip-bad-records"]) == 0
    summary = json.loads((tmp_path / "t" / "summary.json").read_text())
    assert summary["training"]["skipped_records"] == 1 and summary["training"]["input_documents"] == 100


def test_cli_rejects_bad_parameters(tmp_path, capsys):
    src = tmp_path / "docs.jsonl"
    write_jsonl(src, ["a b c"] * 5)
    assert main(["train-tokenizer", str(src), "--out", str(tmp_path / "t"), "--algorithm", "wordpiece",
                 "--set", "byte_fallback=true"]) == 2
    assert "byte_fallback" in capsys.readouterr().err


def test_cli_never_replaces_a_folder_that_is_not_a_tokenizer(tmp_path, capsys):
    src = tmp_path / "docs.jsonl"
    write_jsonl(src, ["a b c"] * 5)
    keep = tmp_path / "mine"
    keep.mkdir()
    (keep / "notes.txt").write_text("precious")
    assert main(["train-tokenizer", str(src), "--out", str(keep)]) == 1
    assert "holds no tokenizer" in capsys.readouterr().err
    assert (keep / "notes.txt").read_text() == "precious"
