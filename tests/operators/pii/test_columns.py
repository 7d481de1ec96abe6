"""pii_scrubber cleans every string column, not only `text` (issue 12 item 10): JSONL metadata
(kept valid JSON), other Parquet string columns (nested ones too), in kept, rejected/ and
quarantine/ output; per-entity counts include what other columns held."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from operators.pii.scrubber import PIIScrubber
from tests.conftest import ROOT

EMAILS = ["ana.ruiz@example.org", "li.wei@example.net", "omar.haddad@example.com", "kim.ito@example.org",
          "sven.berg@example.net", "zoe.martin@example.com"]
IPS = ["203.0.113.77", "198.51.100.23"]
PHONE = "+44 20 7946 0958"
LONG = "a long enough document about the spring meeting and the invoice for the garden works, kept"


def _strings(path: Path) -> str:
    if path.suffix == ".parquet":
        return json.dumps(pq.read_table(path).to_pylist(), ensure_ascii=False, default=str)
    return path.read_bytes().decode("utf-8", "replace")


def _inputs(folder: Path) -> list[str]:
    folder.mkdir()
    lines = [
        {"id": "j0", "text": LONG, "author": {"mail": EMAILS[0], "seen_from": [IPS[0], "x"]}, "n": 1},
        {"id": "j1", "text": "too short", "author": {"mail": EMAILS[1]}},  # rejected by words_filter
        {"id": "j2", "text": 17, "from": EMAILS[2]},  # quarantined: non-string text
        {"id": "j3", "text": LONG, f"note {EMAILS[3]}": "key holds an address", "phone": PHONE},
    ]
    (folder / "a.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    table = pa.table({
        "id": ["p0", "p1"],
        "text": [LONG, "short one"],
        "contact": [f"write to {EMAILS[4]}", f"host {IPS[1]}"],
        "aliases": pa.array([[EMAILS[5]], None], pa.list_(pa.string())),
        "year": [2001, 2002],
    })
    pq.write_table(table, folder / "b.parquet")
    return [str(folder / "a.jsonl"), str(folder / "b.parquet")]


def test_cli_run_leaves_no_value_in_any_column_or_sink(tmp_path: Path) -> None:
    recipe = {
        "input": {"path": _inputs(tmp_path / "in")},
        "output": {"path": str(tmp_path / "out")},
        "steps": [{"words_filter": {"min_words": 5}}, {"pii_scrubber": {"policy": "tag"}}],
    }
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    proc = subprocess.run([sys.executable, "-m", "pipeline.cli", "run", str(tmp_path / "r.yaml"), "--quiet"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = tmp_path / "out"
    files = [p for p in out.rglob("*") if p.is_file()]
    assert list((out / "rejected").rglob("*.parquet")) and list((out / "quarantine").rglob("*.parquet"))
    for path in files:
        text = _strings(path)
        for value in [*EMAILS, *IPS, PHONE]:
            assert value not in text, f"{value!r} in {path.relative_to(out)}"
    kept = {r["id"]: r for f in out.glob("*.parquet") for r in pq.read_table(f).to_pylist()}
    meta = json.loads(kept["j0"]["metadata"])  # still JSON, values scrubbed, syntax and other values intact
    assert meta == {"author": {"mail": "<EMAIL>", "seen_from": ["<IP_ADDRESS>", "x"]}, "n": 1}
    assert json.loads(kept["j3"]["metadata"]) == {"note <EMAIL>": "key holds an address", "phone": "<PHONE_NUMBER>"}
    assert kept["j0"]["pii_count_EMAIL_ADDRESS"] == 1 and kept["j0"]["pii_count_IP_ADDRESS"] == 1
    assert kept["p0"]["contact"] == "write to <EMAIL>" and kept["p0"]["aliases"] == ["<EMAIL>"]
    assert kept["p0"]["pii_count_EMAIL_ADDRESS"] == 2 and kept["p0"]["year"] == 2001
    stats = json.loads((out / "stats.json").read_text())
    metrics = stats["steps"][1]["metrics"]
    assert metrics["pii:EMAIL_ADDRESS"] == 4 and metrics["pii:IP_ADDRESS"] == 1 and metrics["pii:PHONE_NUMBER"] == 1


def ready(op: PIIScrubber) -> PIIScrubber:
    op.ensure_setup()
    return op


@pytest.fixture(scope="module")
def table() -> pa.Table:
    return pa.table({
        "id": [EMAILS[0], "d1", "d2"],
        "text": [f"mail {EMAILS[1]}", "nothing", None],
        "metadata": [json.dumps({"to": EMAILS[2], "cc": [EMAILS[3], 5, None]}), "not json: " + IPS[0], None],
        "big": pa.array([f"from {IPS[1]}", "", None], pa.large_string()),
        "tag": pa.array([EMAILS[4], EMAILS[4], "plain"]).dictionary_encode(),
        "person": pa.array([{"mail": EMAILS[5], "age": 3}, None, {"mail": "none", "age": 4}],
                           pa.struct([("mail", pa.string()), ("age", pa.int64())])),
    })


def test_every_string_column_by_default_types_kept_id_untouched(table: pa.Table) -> None:
    op = ready(PIIScrubber())
    out = op.apply(table).table
    assert out.column("id").to_pylist() == table.column("id").to_pylist()
    assert out.column("text").to_pylist() == ["mail <EMAIL>", "nothing", None]
    assert json.loads(out.column("metadata")[0].as_py()) == {"to": "<EMAIL>", "cc": ["<EMAIL>", 5, None]}
    assert out.column("metadata").to_pylist()[1:] == ["not json: <IP_ADDRESS>", None]
    assert out.column("big").to_pylist() == ["from <IP_ADDRESS>", "", None]
    assert out.column("tag").to_pylist() == ["<EMAIL>", "<EMAIL>", "plain"]
    assert out.column("person").to_pylist() == [{"mail": "<EMAIL>", "age": 3}, None, {"mail": "none", "age": 4}]
    for name in ("metadata", "big", "tag", "person"):
        assert out.schema.field(name).type == table.schema.field(name).type, name
    assert out.column("pii_count_EMAIL_ADDRESS").to_pylist() == [5, 1, 0]
    assert out.column("pii_count_IP_ADDRESS").to_pylist() == [1, 1, 0]
    assert op.pop_metrics() == {"pii:EMAIL_ADDRESS": 6, "pii:IP_ADDRESS": 2}


def test_columns_narrow_and_scrub_id_widen(table: pa.Table) -> None:
    only_text = ready(PIIScrubber(columns=["text"])).apply(table).table
    assert only_text.column("metadata").to_pylist() == table.column("metadata").to_pylist()
    assert only_text.column("pii_count_EMAIL_ADDRESS").to_pylist() == [1, 0, 0]
    with_id = ready(PIIScrubber(policy="hash", salt="s", scrub_id=True)).apply(table).table
    assert with_id.column("id")[0].as_py().startswith("<EMAIL_") and with_id.column("id")[1].as_py() == "d1"


def test_redact_covers_the_same_columns(table: pa.Table) -> None:
    op = ready(PIIScrubber())
    red = op.redact(table)
    strings = json.dumps(red.drop_columns(["id"]).to_pylist(), default=str)
    for value in [*EMAILS[1:], *IPS]:
        assert value not in strings
    assert "pii_count_EMAIL_ADDRESS" not in red.column_names and op.pop_metrics() == {}
    assert ready(PIIScrubber(columns=["text"])).redact(table).column("big").to_pylist()[0] == f"from {IPS[1]}"


def test_columns_parameter_is_checked() -> None:
    with pytest.raises(ValueError, match="columns is empty"):
        PIIScrubber(columns=[])
    with pytest.raises(ValueError, match="twice"):
        PIIScrubber(columns=["text", "text"])


def test_json_keys_that_scrub_alike_stay_apart() -> None:
    op = ready(PIIScrubber())
    meta = json.dumps({EMAILS[0]: 1, EMAILS[1]: [2], "k": "v"})
    out = op.apply(pa.table({"id": ["a"], "text": ["t"], "metadata": [meta]})).table
    assert json.loads(out.column("metadata")[0].as_py()) == {"<EMAIL>": 1, "<EMAIL>#2": [2], "k": "v"}


def test_errors_name_documents_without_pii_in_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    op = ready(PIIScrubber(entities=["EMAIL_ADDRESS"]))
    rec = op._analyzer.recognizers["EMAIL_ADDRESS"]

    def broken(text, entities, nlp_artifacts=None, regex_flags=None):
        raise ValueError("boom")

    monkeypatch.setattr(rec, "analyze", broken)
    with pytest.raises(Exception) as err:
        op.apply(pa.table({"id": [EMAILS[0], "d2"], "text": ["a@b", "c@d"]}))
    assert EMAILS[0] not in str(err.value) and "<EMAIL>..d2" in str(err.value)
