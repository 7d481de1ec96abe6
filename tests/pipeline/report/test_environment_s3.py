"""The report's "Software and models" section for a run whose model and output live on a store
(issue 14): the model named by URL and the trained artifacts are listed with their size and
SHA-256, read through the real S3 server; a file too big to read is named with its ETag, a store
that cannot be read is said in its row."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from operators import registry
from operators.quality.language import bundled_model_path
from pipeline.cli import main
from pipeline.recipe import validate_recipe
from pipeline.report import environment
from pipeline.runner import run_recipe
from storage.location import Location
from tests.core_helpers import recipe_dict, write_parquet_shards
from tests.pipeline.test_cli_storage_options import no_aws_environment, options  # noqa: F401 - a fixture

MODEL = bundled_model_path().read_bytes()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def test_a_report_hashes_the_model_and_artifacts_on_the_store(s3_server, tmp_path: Path, capsys,
                                                              no_aws_environment) -> None:  # noqa: F811
    base = Location(f"s3://{s3_server.new_prefix()}", s3_server.storage_options)
    (base / "models" / "lid.176.ftz").write_bytes(MODEL)
    write_parquet_shards(tmp_path / "in", 1, 40)
    steps = [{"language_filter": {"languages": ["en"], "min_score": 0.0, "model_path": f"{base}/models/lid.176.ftz"}}]
    data = recipe_dict(f"{tmp_path}/in/*.parquet", f"{base}/out", steps)
    data["storage_options"] = s3_server.storage_options
    run_recipe(validate_recipe(data))
    (base / "out" / "artifacts" / "tok" / "tokenizer.json").write_text('{"trained": true}')

    assert main(["report", f"{base}/out", *options(s3_server)]) == 0
    html = (base / "out" / "report.html").read_text()
    section = html[html.index("Software and models"):]
    assert f"{base}/models/lid.176.ftz" in section and sha(MODEL) in section
    assert f"{base}/out/artifacts/tok/tokenizer.json" in section and sha(b'{"trained": true}') in section
    assert "No model files" not in section


def test_a_big_or_unreadable_file_on_a_store_is_said_so(s3_server, monkeypatch: pytest.MonkeyPatch) -> None:
    base = Location(f"s3://{s3_server.new_prefix()}", s3_server.storage_options)
    (base / "lid.176.ftz").write_bytes(MODEL)
    op = registry.build("language_filter", {"languages": ["en"], "model_path": f"{base}/lid.176.ftz"})
    monkeypatch.setattr(environment, "REMOTE_HASH_LIMIT", 1000)
    (row,) = environment.model_files([op], base / "no-artifacts", s3_server.storage_options)
    assert row[1:3] == (f"{base}/lid.176.ftz", len(MODEL))
    assert row[3].startswith("(not hashed: on a store, over 0 MiB; ETag "), row

    wrong = {**s3_server.storage_options, "secret": "not-the-secret"}
    model, trained = environment.model_files([op], Location(f"{base}/none", wrong), wrong)
    assert model[3].startswith("(not hashed: cannot read it on the store: access denied"), model
    assert trained[:2] == ("artifacts", f"{base}/none"), trained
    assert trained[3].startswith("(not listed: cannot read the store: access denied"), trained
    assert "not-the-secret" not in model[3] + trained[3]


def test_local_models_and_artifacts_are_hashed_as_before(tmp_path: Path) -> None:
    op = registry.build("language_filter", {"languages": ["en"], "model_path": str(bundled_model_path())})
    (tmp_path / "artifacts" / "tok").mkdir(parents=True)
    (tmp_path / "artifacts" / "tok" / "tokenizer.json").write_text("{}")
    (tmp_path / "artifacts" / "tok" / ".tokenizer.json.tmp-1-ab").write_text("unfinished")  # not listed
    rows = environment.model_files([op, None], tmp_path / "artifacts")
    assert rows == [("step 0 language_filter.model_path", str(bundled_model_path()), len(MODEL), sha(MODEL)),
                    ("artifact tok/tokenizer.json", str(tmp_path / "artifacts" / "tok" / "tokenizer.json"), 2,
                     sha(b"{}"))]
    assert environment.model_files([op], tmp_path / "nothing") == rows[:1]
