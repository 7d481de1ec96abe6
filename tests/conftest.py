"""Shared test fixtures. Tests that need ../shared/data skip with a reason when it is absent,
and fail instead when PIPELINE_REQUIRE_SHARED_DATA=1 (as .ci/run sets)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("PIPELINE_SHARED_DATA", ROOT.parent / "shared" / "data"))


def shared_path(relative: str) -> Path:
    """Path under ../shared/data, or skip (fail under PIPELINE_REQUIRE_SHARED_DATA=1) if absent."""
    path = SHARED_DATA / relative
    if not path.exists():
        msg = f"shared test data not found: {path}"
        if os.environ.get("PIPELINE_REQUIRE_SHARED_DATA") == "1":
            pytest.fail(msg + " (PIPELINE_REQUIRE_SHARED_DATA=1)")
        pytest.skip(msg)
    return path


@pytest.fixture
def corpus_shards() -> list[Path]:
    folder = shared_path("corpus_en")
    return sorted(folder.glob("part-*.parquet"))


from tests.s3_server import s3_server  # noqa: E402,F401 - the session's real S3 server fixture
