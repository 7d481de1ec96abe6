"""KenLM's `lmplz` and `build_binary`, when built (see .ci/build_lmplz.sh): found on PATH or
in the build script's cache folder ($PIPELINE_LMPLZ_CACHE, default ~/.cache/pipeline-lmplz)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path


def cache_bin() -> Path:
    base = os.environ.get("PIPELINE_LMPLZ_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pipeline-lmplz"
    return Path(base) / "bin"


def find_tool(name: str) -> Path | None:
    """`lmplz` or `build_binary`: PATH first, then the build script's cache."""
    found = shutil.which(name)
    if found:
        return Path(found)
    cached = cache_bin() / name
    return cached if cached.is_file() and os.access(cached, os.X_OK) else None


class ToolError(RuntimeError):
    """A KenLM program is missing or failed."""


def _run(cmd: list[str], stdin_path: Path | None = None) -> None:
    with open(stdin_path, "rb") if stdin_path else open(os.devnull, "rb") as stdin:
        proc = subprocess.run(cmd, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if proc.returncode != 0:
        tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-5:]
        raise ToolError(f"{' '.join(cmd)} failed with exit code {proc.returncode}: " + " | ".join(tail))


def run_lmplz(text: Path, arpa: Path, order: int, tmpdir: Path, memory: str = "1G") -> None:
    """Estimate with lmplz: same conventions as the own estimator (special words skipped,
    fallback discounts on tiny corpora)."""
    lmplz = find_tool("lmplz")
    if lmplz is None:
        raise ToolError("lmplz not found on PATH nor in " + str(cache_bin()) + "; build it with .ci/build_lmplz.sh")
    _run([str(lmplz), "-o", str(order), "--discount_fallback", "--skip_symbols", "-S", memory,
          "-T", str(tmpdir) + "/", "--text", str(text), "--arpa", str(arpa)])


def run_build_binary(arpa: Path, binary: Path) -> None:
    tool = find_tool("build_binary")
    if tool is None:
        raise ToolError("build_binary not found on PATH nor in " + str(cache_bin()) + "; build it with .ci/build_lmplz.sh")
    _run([str(tool), str(arpa), str(binary)])
