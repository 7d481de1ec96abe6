"""Incomplete multipart uploads: what a process killed in the middle of uploading a large object
leaves on an S3 store (s3fs uploads objects of 100 MiB and more in parts, storage.files). They are
invisible in listings yet billed on AWS until aborted. `abort_incomplete_uploads` aborts those
under a folder whose keys the caller says it owns; stores without multipart uploads (a local
disk, memory://) have none, and there it does nothing.

Abort only uploads no live process is writing: the caller holds the folder's run lock."""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable, Iterator
from typing import Any

from storage import files

log = logging.getLogger("pipeline.storage")

PAGE = 1000  # the most S3 lists per request


def _s3(folder: files.PathLike, storage_options: dict[str, Any] | None) -> tuple[Any, str, str] | None:
    """(s3fs file system, bucket, key prefix ending in "/") of a folder on S3; None elsewhere."""
    if not files.is_url(folder):
        return None
    fs, inner = files.filesystem(folder, storage_options)
    if not callable(getattr(fs, "call_s3", None)):  # not s3fs: no multipart uploads to list
        return None
    bucket, key, _ = fs.split_path(inner)
    return fs, bucket, f"{key.rstrip('/')}/" if key else ""


def _listing(fs: Any, bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
    """Every incomplete upload under `prefix`, page by page (S3 pages by key and upload id)."""
    markers: dict[str, str] = {}
    while True:
        page = fs.call_s3("list_multipart_uploads", Bucket=bucket, Prefix=prefix, MaxUploads=PAGE, **markers)
        yield from page.get("Uploads") or []
        if not page.get("IsTruncated"):
            return
        # SeaweedFS gives only the upload id marker, AWS both: pass on what the store gave
        following = {name: page[f"Next{name}"] for name in ("KeyMarker", "UploadIdMarker") if page.get(f"Next{name}")}
        if not following or following == markers:
            raise RuntimeError(f"listing the incomplete uploads of s3://{bucket}/{prefix}: the store said the "
                               f"listing goes on but gave no new marker ({following})")
        markers = following


def incomplete_uploads(folder: files.PathLike, storage_options: dict[str, Any] | None = None) -> list[tuple[str, str]]:
    """(key relative to `folder`, upload id) of every incomplete multipart upload under it."""
    store = _s3(folder, storage_options)
    if store is None:
        return []
    fs, bucket, prefix = store
    return sorted((u["Key"][len(prefix):], u["UploadId"]) for u in _listing(fs, bucket, prefix))


def abort_incomplete_uploads(folder: files.PathLike, owned: Callable[[str], bool],
                             storage_options: dict[str, Any] | None = None) -> int:
    """Abort the incomplete multipart uploads under `folder` whose key (relative to it, such as
    "_work/seg0/x.parquet") is `owned`; returns how many. The others are left alone."""
    store = _s3(folder, storage_options)
    if store is None:
        return 0
    fs, bucket, prefix = store
    aborted = 0
    try:
        for upload in [u for u in _listing(fs, bucket, prefix) if owned(u["Key"][len(prefix):])]:
            try:
                fs.call_s3("abort_multipart_upload", Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
            except FileNotFoundError:  # NoSuchUpload: aborted or completed since the listing
                continue
            aborted += 1
    except OSError as exc:  # credentials that may write but not list or abort uploads, or a store without the
        # calls (ENOSYS: NotImplemented): this is a cleanup, it does not stop the run
        if not isinstance(exc, PermissionError) and exc.errno != errno.ENOSYS:
            raise
        log.warning("cannot abort the incomplete uploads that killed processes left under %s (%s): grant "
                    "s3:ListBucketMultipartUploads and s3:AbortMultipartUpload, or give the bucket a lifecycle rule "
                    "AbortIncompleteMultipartUpload", folder, exc)
    if aborted:
        log.info("aborted %d incomplete upload(s) of killed processes under %s", aborted, folder)
    return aborted
