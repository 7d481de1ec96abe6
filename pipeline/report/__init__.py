"""Reports: the single-file HTML run report (`write_report`) and the threshold analysis."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def write_report(out_dir: Path | Any, path: Path | None = None) -> Any:
    """Write `report.html` for the finished run in `out_dir` (a path, URL or storage Location;
    or to `path`); return where it went (a Location)."""
    from pipeline.report.run_report import write_report as _write

    return _write(out_dir, path)


__all__ = ["write_report"]
