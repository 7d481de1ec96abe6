"""The Docker image holds every package the project installs (no daemon here: the files are read)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_dockerfile_copies_every_installed_package() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = sorted(p.rstrip("*") for p in patterns)
    copied = set(re.findall(r"^COPY\s+(\S+)\s+\./\S+", (ROOT / "docker" / "Dockerfile").read_text(), re.M))
    missing = [p for p in packages if p not in copied]
    assert not missing, f"docker/Dockerfile does not COPY {missing}: the image's pip install would lack them"
