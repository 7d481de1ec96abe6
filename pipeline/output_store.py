"""How the output's storage fails: the errors a local disk or an object store raises, told in
one line, and the probe that checks an output location can be written before any work."""

from __future__ import annotations

import sys
from typing import Any

from pipeline.plan import output_location
from storage import files


def store_errors() -> tuple[type[BaseException], ...]:
    """What failing storage raises: OSError, and the object-store clients' own errors (only when
    loaded: a run that never touched a store cannot have met them)."""
    found: list[type[BaseException]] = [OSError]
    botocore = sys.modules.get("botocore.exceptions")
    if botocore is not None:
        found.append(botocore.BotoCoreError)
    aiohttp = sys.modules.get("aiohttp")
    if aiohttp is not None:
        found.append(aiohttp.ClientError)
    return tuple(found)


def describe_store_error(exc: BaseException) -> str:
    """One line for a storage failure: what went wrong, in the client's words."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, PermissionError):
        return f"access denied (wrong credentials or no permission): {text}"
    if isinstance(exc, FileNotFoundError):
        return f"not found: {text}"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror} (errno {exc.errno})"
    if "Credentials" in type(exc).__name__:  # botocore's NoCredentialsError, PartialCredentialsError
        return (f"no credentials ({text}): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or the recipe's "
                f"storage_options")
    if not isinstance(exc, OSError):
        return f"cannot reach the store ({type(exc).__name__}): {text}"
    return text


def check_writable(path: str, storage_options: dict[str, Any] | None = None) -> str | None:
    """None when the output location can be written, else one line naming it and the cause. On an
    object store a probe object is written and deleted under `_work/` (unknown scheme, missing bucket, wrong credentials and an
    unreachable endpoint all show here, before any work)."""
    out = output_location(path, storage_options)
    if not out.is_remote:  # the run's start says it, in one line, before any work (prepare_output)
        return None
    probed = (out.url, repr(sorted((storage_options or {}).items())))  # in memory only: it may hold secrets
    if probed in _writable:  # `pipeline run` validates, then prepares the folder: one probe is enough
        return None
    try:
        fs, inner = files.filesystem(out)
    except (ValueError, ImportError) as exc:  # fsspec: "Protocol not known", or its package missing
        return f"{out}: unknown or unavailable storage scheme: {' '.join(str(exc).split())}"
    bucket = inner.strip("/").split("/", 1)[0]
    probe = out / "_work" / files.temp_name("probe")  # a leftover is a temporary, as cleanup knows
    try:
        fs.invalidate_cache(bucket)
        fs.ls(bucket, detail=False)  # a store may create a missing bucket on write: look first
        probe.write_bytes(b"probe")
        probe.delete()
    except FileNotFoundError:
        return f"{out}: the bucket {bucket!r} does not exist (create it, or fix output.path)"
    except store_errors() as exc:
        return f"{out}: cannot write there: {describe_store_error(exc)}"
    _writable.add(probed)
    return None


_writable: set[tuple[str, str]] = set()  # (output URL, its options) this process has written a probe to

