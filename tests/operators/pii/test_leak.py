"""Never leak: after a real `pipeline run` with pii_scrubber first, no PII value is in the
output, the rejected documents, stats.json, the report, the work folder or the console; presidio
log records and exceptions carry no values either."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from operators.pii.analysis import PIIAnalysisError
from operators.pii.scrubber import PIIScrubber
from tests.conftest import ROOT

VALUES = ["alice.smith@example.com", "bob@mail.example.org", "(212) 555-0199", "+44 20 7946 0958",
          "4111 1111 1111 1111", "5500-0000-0000-0004", "DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432",
          "536-22-1234", "10.1.2.3", "2001:db8::8a2e:370:7334"]
SALT = "leak-test-salt-9f3a"


def _docs() -> list[dict]:
    docs = []
    for i, v in enumerate(VALUES):
        docs.append({"id": f"long-{i}", "text": f"Message {i}: please contact me at {v} about the invoice for the spring "
                                              f"meeting, and keep this note with the other papers."})
        docs.append({"id": f"short-{i}", "text": f"see {v}"})  # removed by the words filter: rejected/
    docs.append({"id": "many", "text": " ; ".join(VALUES)})  # removed by max_findings: rejected/
    return docs


def _strings_in(path: Path) -> str:
    if path.suffix == ".parquet":
        table = pq.read_table(path)
        return "\n".join(str(v) for col in table.columns if pa.types.is_string(col.type) for v in col.to_pylist())
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return path.read_bytes().decode("latin-1")


def test_pipeline_run_leaks_no_value(tmp_path: Path) -> None:
    docs = _docs()
    data = tmp_path / "in"
    data.mkdir()
    for s in range(2):
        pq.write_table(pa.Table.from_pylist(docs[s::2]), data / f"part-{s}.parquet")
    recipe = {
        "input": {"path": str(data / "part-*.parquet"), "id_column": "id"},
        "output": {"path": str(tmp_path / "out"), "rejected": True},
        "executor": {"type": "local", "workers": 2},
        "steps": [
            {"pii_scrubber": {"policy": "hash", "salt_env": "PII_LEAK_SALT", "max_findings": 4}},
            {"words_filter": {"min_words": 5}},
        ],
    }
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    env = {**os.environ, "PII_LEAK_SALT": SALT}
    proc = subprocess.run([sys.executable, "-m", "pipeline.cli", "run", str(tmp_path / "r.yaml"), "--quiet"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = tmp_path / "out"
    stats = json.loads((out / "stats.json").read_text())
    step = stats["steps"][0]
    assert step["removed"] == {"pii_scrubber:too_many_pii": 1}
    assert step["metrics"]["pii:EMAIL_ADDRESS"] == 2 * 2 + 2 and step["metrics"]["pii:IBAN_CODE"] == 6
    assert (out / "report.html").exists() and list((out / "rejected").rglob("*.parquet"))
    files = [p for p in out.rglob("*") if p.is_file()]
    haystacks = {str(p.relative_to(out)): _strings_in(p) for p in files}
    haystacks["console"] = proc.stdout + proc.stderr
    for where, text in haystacks.items():
        for value in [*VALUES, SALT]:
            assert value not in text, f"{value!r} found in {where}"
    assert any("<EMAIL_" in t for t in haystacks.values())


def test_presidio_log_records_lose_their_values(caplog: pytest.LogCaptureFixture) -> None:
    op = PIIScrubber()
    op.ensure_setup()
    with caplog.at_level(logging.DEBUG):
        op.run([{"text": "IBAN DE89 3704 0044 0532 0130 00 and a@example.com"}])
        # the form of presidio's own IbanRecognizer error ("Failed to validate text %s")
        logging.getLogger("presidio-analyzer").error("Failed to validate text %s", "DE89 3704 0044 0532 0130 00")
    records = [r for r in caplog.records if r.name.startswith("presidio")]
    assert records and all("DE89" not in r.getMessage() and "example.com" not in r.getMessage() for r in records)
    assert any("withheld" in r.getMessage() and r.levelno == logging.ERROR for r in records)


def test_a_failing_recognizer_raises_without_the_text(monkeypatch: pytest.MonkeyPatch) -> None:
    op = PIIScrubber(entities=["EMAIL_ADDRESS"])
    op.ensure_setup()
    rec = op._analyzer.recognizers["EMAIL_ADDRESS"]

    def broken(text, entities, nlp_artifacts=None, regex_flags=None):
        raise ValueError(f"cannot parse {text!r}")

    monkeypatch.setattr(rec, "analyze", broken)
    with pytest.raises(PIIAnalysisError) as err:
        op.run([{"id": "doc-7", "text": "write to carol@example.com"}])
    message = str(err.value)
    assert "carol" not in message and "doc-7" in message and "ValueError" in message
    assert err.value.__cause__ is None and err.value.__suppress_context__
