"""The Python API keeps the PII hash salt: operators built by `pipeline.run` hash with the
salt they were given (issue 12 item 9), and the salt is still withheld from what is displayed."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from operators.pii.scrubber import PIIScrubber
from pipeline import run
from pipeline.api import step_spec

EMAIL = "maria.lopez@example.org"


def _hash_tokens(tmp_path: Path, salt: str, name: str) -> list[str]:
    data = tmp_path / f"in-{name}"
    data.mkdir()
    pq.write_table(pa.table({"id": ["a"], "text": [f"write to {EMAIL} today"]}), data / "part-0.parquet")
    out = tmp_path / f"out-{name}"
    run([PIIScrubber(policy="hash", salt=salt)], str(data / "*.parquet"), str(out))
    text = pq.read_table(out / "part-0.parquet").column("text").to_pylist()[0]
    assert EMAIL not in text
    return re.findall(r"<EMAIL_[0-9a-f]+>", text)


def test_two_salts_give_different_tokens_same_salt_same_tokens(tmp_path: Path) -> None:
    first = _hash_tokens(tmp_path, "salt-one-7d1c", "a")
    second = _hash_tokens(tmp_path, "salt-two-0b9e", "b")
    again = _hash_tokens(tmp_path, "salt-one-7d1c", "c")
    assert len(first) == 1 and len(second) == 1
    assert first != second
    assert first == again


def test_api_tokens_equal_the_operators_own(tmp_path: Path) -> None:
    op = PIIScrubber(policy="hash", salt="salt-one-7d1c")
    op.ensure_setup()
    expected = op.apply(pa.table({"id": ["a"], "text": [f"write to {EMAIL} today"]})).table
    assert _hash_tokens(tmp_path, "salt-one-7d1c", "d") == re.findall(r"<EMAIL_[0-9a-f]+>",
                                                                        expected.column("text")[0].as_py())


def test_step_spec_carries_the_secret_but_params_withhold_it() -> None:
    op = PIIScrubber(policy="hash", salt="salt-one-7d1c")
    spec = step_spec(op)
    assert spec == {"pii_scrubber": {"policy": "hash", "salt": "salt-one-7d1c"}}
    assert "salt-one-7d1c" not in repr(op) and "salt-one-7d1c" not in str(op.params())
