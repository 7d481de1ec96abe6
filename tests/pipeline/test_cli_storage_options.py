"""`--storage-option KEY=VALUE` (issue 14): `pipeline run` and `pipeline report` reach an output
folder on a store with an explicit endpoint and credentials, on the real S3 server, with no
AWS_* variable set; the credentials appear in no output, file or message."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.cli import main
from storage.location import Location
from tests.core_helpers import recipe_dict, write_parquet_shards, write_recipe
from tests.s3_server import ACCESS_KEY, SECRET_KEY


def options(server) -> list[str]:
    return ["--storage-option", f"key={ACCESS_KEY}", "--storage-option", f"secret={SECRET_KEY}",
            "--storage-option", f"client_kwargs.endpoint_url=http://{server.endpoint}",
            "--storage-option", "client_kwargs.region_name=us-east-1"]


@pytest.fixture
def no_aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the command line may say where the store is and who we are."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
                 "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")


def test_run_and_report_on_a_store_given_on_the_command_line(s3_server, tmp_path: Path, capsys,
                                                             no_aws_environment) -> None:
    write_parquet_shards(tmp_path / "in", 2, 60)
    url = f"s3://{s3_server.new_prefix()}/out"
    recipe = write_recipe(tmp_path / "r.yaml", recipe_dict(f"{tmp_path}/in/*.parquet", url))
    assert main(["run", str(recipe), "--quiet", *options(s3_server)]) == 0
    out = Location(url, s3_server.storage_options)
    assert (out / "stats.json").read_json()["input"]["documents"] == 120

    assert main(["report", url, *options(s3_server)]) == 0
    html = (out / "report.html").read_text()
    assert "Pipeline run report" in html and "part-000" in html
    elsewhere = f"{url}-reports/again.html"
    assert main(["report", url, "--out", elsewhere, *options(s3_server)]) == 0
    again = Location(elsewhere, s3_server.storage_options).read_text()
    assert "Pipeline run report" in again and "part-000" in again  # plots' clip ids differ from run to run
    printed = capsys.readouterr()
    assert f"report: {url}/report.html" in printed.out and f"report: {elsewhere}" in printed.out
    written = "".join((out / name).read_text() for name in ("stats.json", "_work/recipe.json", "report.html"))
    assert SECRET_KEY not in printed.out + printed.err + written


def test_wrong_or_malformed_options_fail_in_one_line_without_the_secret(s3_server, tmp_path: Path, capsys,
                                                                        no_aws_environment) -> None:
    write_parquet_shards(tmp_path / "in", 1, 30)
    url = f"s3://{s3_server.new_prefix()}/out"
    recipe = recipe_dict(f"{tmp_path}/in/*.parquet", url)
    recipe["storage_options"] = s3_server.storage_options
    assert main(["run", str(write_recipe(tmp_path / "r.yaml", recipe)), "--quiet", "--no-report"]) == 0
    capsys.readouterr()

    wrong = "not-the-secret-1234"
    assert main(["report", url, *options(s3_server)[:2], "--storage-option", f"secret={wrong}",
                 *options(s3_server)[4:]]) == 1
    err = capsys.readouterr().err
    assert f"cannot make the report of {url}: access denied" in err, err
    assert "Traceback" not in err and wrong not in err, err
    assert main(["report", url, *options(s3_server)[:4], "--storage-option", "client_kwargs.endpoint_url=http://127.0.0.1:1"]) == 1
    err = capsys.readouterr().err
    assert f"cannot make the report of {url}: cannot reach the store" in err, err
    assert "Traceback" not in err and SECRET_KEY not in err, err
    assert not Location(url, s3_server.storage_options).joinpath("report.html").exists()

    for bad, says in (([SECRET_KEY], "a --storage-option has no '='"),
                      ([f"secret=[{SECRET_KEY}"], "--storage-option secret: the value is not valid YAML"),
                      ([f".secret={SECRET_KEY}"], "--storage-option .secret=...: empty key"),
                      (["client_kwargs=1", f"client_kwargs.endpoint_url={SECRET_KEY}"],
                       "--storage-option client_kwargs.endpoint_url: client_kwargs is already set to a value")):
        for command in (["report", url], ["run", str(tmp_path / "r.yaml")]):
            assert main([*command, *(a for b in bad for a in ("--storage-option", b))]) == 1
            err = capsys.readouterr().err
            assert says in err and SECRET_KEY not in err and "Traceback" not in err, err


def test_tokenize_to_a_store_given_on_the_command_line(s3_server, tmp_path: Path, capsys,
                                                       no_aws_environment) -> None:
    from operators.tokenizer.train import train_on_texts
    from tests.core_helpers import make_docs

    write_parquet_shards(tmp_path / "in", 2, 60)
    train_on_texts([d["text"] for d in make_docs(200)], tmp_path / "tok", vocab_size=300, held_out_documents=0)
    base = Location(f"s3://{s3_server.new_prefix()}", s3_server.storage_options)
    (base / "tok" / "tokenizer.json").write_bytes((tmp_path / "tok" / "tokenizer.json").read_bytes())
    common = [str(tmp_path / "in"), "--format", "parquet", "--validation-documents", "5", "--quiet"]
    assert main(["tokenize", *common, "--tokenizer", str(tmp_path / "tok" / "tokenizer.json"),
                 "--out", str(tmp_path / "local")]) == 0
    assert main(["tokenize", *common, "--tokenizer", f"{base}/tok/tokenizer.json", "--out", f"{base}/out",
                 *options(s3_server)]) == 0
    local = Location(tmp_path / "local" / "artifacts" / "tokens")
    remote = base / "out" / "artifacts" / "tokens"
    assert remote.list_names() == local.list_names() and "tokens.json" in local.list_names()
    assert all((remote / n).read_bytes() == (local / n).read_bytes() for n in local.list_names() if n != "tokens.json")
    printed = capsys.readouterr()
    assert f"token files: {remote}/" in printed.out and SECRET_KEY not in printed.out + printed.err


def test_validate_probes_the_store_given_on_the_command_line(s3_server, tmp_path: Path, capsys,
                                                             no_aws_environment) -> None:
    write_parquet_shards(tmp_path / "in", 1, 10)
    url = f"s3://{s3_server.new_prefix()}/out"
    recipe = str(write_recipe(tmp_path / "r.yaml", recipe_dict(f"{tmp_path}/in/*.parquet", url)))
    assert main(["validate", recipe, *options(s3_server)]) == 0
    assert "ok" in capsys.readouterr().out
    wrong = "not-the-secret-5678"
    assert main(["validate", recipe, *options(s3_server)[:2], "--storage-option", f"secret={wrong}",
                 *options(s3_server)[4:]]) == 2
    err = capsys.readouterr().err
    assert f"output.path: {url}: cannot write there: access denied" in err and wrong not in err, err
