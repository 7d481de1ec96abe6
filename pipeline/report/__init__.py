"""Reports: the single-file HTML run report (`write_report`) and the threshold analysis."""

from __future__ import annotations

from pathlib import Path


def write_report(out_dir: Path, path: Path | None = None) -> Path:
    """Write `report.html` for the finished run in `out_dir` (or to `path`); return its path."""
    from pipeline.report.run_report import write_report as _write

    return _write(Path(out_dir), path)


__all__ = ["write_report"]
