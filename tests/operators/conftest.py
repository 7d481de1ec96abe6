"""Fixtures of the operator tests."""

from __future__ import annotations

import pytest

from storage.location import Location


@pytest.fixture
def places(s3_server, tmp_path, monkeypatch):
    """(local work, local artifacts, S3 work, S3 artifacts); URLs without options (an operator's
    own path parameters) reach the server through the usual AWS environment variables."""
    for key, value in s3_server.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PIPELINE_CACHE", str(tmp_path / "cache"))
    bucket = Location(f"s3://{s3_server.new_prefix()}", s3_server.storage_options)
    local = Location(tmp_path / "run")
    return local / "work", local / "artifacts", bucket / "work", bucket / "artifacts"
