"""Models on an object store: operators that load native model files by name (fastText, a
tokenizer) take an s3:// URL, copied once to a local cache, and decide exactly as with the file."""

from __future__ import annotations

import pyarrow as pa
import pytest

from operators.quality.language import LanguageFilter, bundled_model_path
from operators.tokenizer.count import TokenCount
from storage import files

TEXTS = ["The committee met on Tuesday to discuss the budget for next year.",
         "Le comité s'est réuni mardi pour discuter du budget de l'année prochaine.",
         "Der Ausschuss traf sich am Dienstag, um den Haushalt zu besprechen.", ""]


@pytest.fixture
def s3_env(s3_server, monkeypatch, tmp_path):
    for key, value in s3_server.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PIPELINE_CACHE", str(tmp_path / "cache"))
    return f"s3://{s3_server.new_prefix()}"


def test_language_model_from_s3(s3_env) -> None:
    url = f"{s3_env}/models/lid.176.ftz"
    files.write_bytes(url, bundled_model_path().read_bytes())
    table = pa.table({"text": TEXTS, "id": [str(i) for i in range(len(TEXTS))]})
    local = LanguageFilter(languages=["en"])(table)
    remote = LanguageFilter(languages=["en"], model_path=url)(table)
    assert remote.equals(local)
    assert remote.column("text").to_pylist() == [TEXTS[0]]


def test_tokenizer_from_s3(s3_env, tmp_path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(TEXTS * 20, trainers.BpeTrainer(vocab_size=200, special_tokens=["[UNK]"]))
    tok.save(str(tmp_path / "tokenizer.json"))
    url = f"{s3_env}/tok/tokenizer.json"
    files.write_bytes(url, (tmp_path / "tokenizer.json").read_bytes())
    table = pa.table({"text": TEXTS})
    expected = TokenCount(tokenizer=str(tmp_path / "tokenizer.json"))(table).column("token_count")
    got = TokenCount(tokenizer=url)(table).column("token_count")
    assert got.equals(expected) and got.to_pylist()[0] > 5
