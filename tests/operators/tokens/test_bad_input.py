"""Bad tokenizers stop `pipeline tokenize` and the `tokenize` step with a clear message before
any token file is written: missing, unreadable, ids beyond int32, no EOS token."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.runner import StepError
from tests.tokens_helpers import manifest, run, tokenize_recipe, train_bpe, write_sample


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("bad")
    return train_bpe(folder / "bpe"), write_sample(folder / "in", 1, 50)


def beyond_int32(bpe: Path, folder: Path) -> Path:
    data = json.loads(bpe.read_text())
    vocab = data["model"]["vocab"]
    vocab[max(vocab, key=vocab.get)] = 3_000_000_000  # tokenizers keeps ids as u32: this one loads
    path = folder / "huge.json"
    path.write_text(json.dumps(data))
    return path


def without_eos(folder: Path) -> Path:
    """A byte-level BPE whose only special token is <pad>."""
    if (folder / "noeos" / "tokenizer.json").exists():
        return folder / "noeos" / "tokenizer.json"
    return train_bpe(folder / "noeos", vocab_size=300, documents=200, special_tokens=["<pad>"])


def tokenizers(setup, tmp_path: Path) -> dict[str, tuple[Path, str]]:
    bpe, _inputs = setup
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    broken_spm = tmp_path / "broken.model"
    broken_spm.write_bytes(b"\x00\x01 not a sentencepiece model")
    return {
        "missing": (tmp_path / "nowhere" / "tokenizer.json", "tokenizer not found"),
        "unreadable_json": (garbage, "is unreadable"),
        "unreadable_model": (broken_spm, "is unreadable"),
        "beyond_int32": (beyond_int32(bpe, tmp_path), "largest token id 3,000,000,000 does not fit in int32"),
        "no_eos": (without_eos(tmp_path), "has no end-of-document (EOS) token: none of </s>, <|endoftext|>"),
    }


@pytest.mark.parametrize("case", ["missing", "unreadable_json", "unreadable_model", "beyond_int32", "no_eos"])
def test_command_refuses_a_bad_tokenizer_and_writes_nothing(setup, tmp_path: Path, case: str, capsys) -> None:
    _bpe, inputs = setup
    path, message = tokenizers(setup, tmp_path)[case]
    out = tmp_path / "out"
    code = main(["tokenize", str(inputs), "--tokenizer", str(path), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code in (1, 2)
    assert message in " ".join(err.split()), err
    assert "Traceback" not in err
    assert not out.exists()


def test_recipe_step_refuses_a_tokenizer_without_eos_before_writing_tokens(setup, tmp_path: Path) -> None:
    _bpe, inputs = setup
    out = tmp_path / "out"
    recipe = tokenize_recipe(f"{inputs}/*.parquet", out, steps=[
        {"tokenize": {"tokenizer": str(without_eos(tmp_path))}}])
    with pytest.raises(StepError, match=r"tokenize.*could not be set up.*has no end-of-document \(EOS\) token"):
        run(recipe)
    assert not (out / "artifacts" / "tokens").exists() and not list(out.glob("*.parquet"))


def test_named_eos_token_is_used(setup, tmp_path: Path, capsys) -> None:
    _bpe, inputs = setup
    noeos = without_eos(tmp_path)
    out = tmp_path / "out"
    assert main(["tokenize", str(inputs), "--tokenizer", str(noeos), "--out", str(out), "--quiet",
                 "--set", "eos_token=<pad>", "--format", "parquet"]) == 0
    m = manifest(out)
    assert m["tokenizer"]["eos_id"] == 0 and m["documents"] == 50
    assert "train: 50 documents" in capsys.readouterr().out
    code = main(["tokenize", str(inputs), "--tokenizer", str(noeos), "--out", str(tmp_path / "o2"), "--quiet",
                 "--set", "eos_token=<none>"])
    assert code == 1 and "no end-of-document (EOS) token: '<none>'" in capsys.readouterr().err
