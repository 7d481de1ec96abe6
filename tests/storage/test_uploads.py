"""Incomplete multipart uploads (storage.uploads) on the real S3 server (SeaweedFS lists and aborts
them like S3): those under a folder whose keys are owned are aborted, the others stay; beside the
folder nothing is touched; a listing longer than a page is followed; stores without multipart
uploads have none."""

from __future__ import annotations

import pytest

from storage import uploads


def start_upload(fs, path: str, part: bytes | None = b"x" * 2**20) -> str:
    """Begin a multipart upload of `path` (bucket/key), with one part uploaded: what a process
    killed midway leaves."""
    bucket, key = path.split("/", 1)
    upload_id = fs.call_s3("create_multipart_upload", Bucket=bucket, Key=key)["UploadId"]
    if part is not None:
        fs.call_s3("upload_part", Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=part)
    return upload_id


def test_owned_uploads_are_aborted_and_the_others_left(s3_server):
    fs = s3_server.filesystem()
    prefix = s3_server.new_prefix()
    options = s3_server.storage_options
    ids = {key: start_upload(fs, f"{prefix}/{key}") for key in
           ("out/_work/seg0/a.parquet", "out/shard.parquet", "out/notes/big.bin", "out-other/_work/b.parquet")}
    folder = f"s3://{prefix}/out"
    assert uploads.incomplete_uploads(folder, options) == sorted(
        (key[len("out/"):], ids[key]) for key in ids if key.startswith("out/"))
    owned = {"_work/seg0/a.parquet", "shard.parquet"}
    assert uploads.abort_incomplete_uploads(folder, owned.__contains__, options) == 2
    assert uploads.incomplete_uploads(folder, options) == [("notes/big.bin", ids["out/notes/big.bin"])]
    assert uploads.incomplete_uploads(f"s3://{prefix}/out-other", options) == [
        ("_work/b.parquet", ids["out-other/_work/b.parquet"])]
    assert uploads.abort_incomplete_uploads(folder, owned.__contains__, options) == 0  # nothing left of ours


def test_a_listing_of_several_pages_is_followed(s3_server, monkeypatch):
    fs = s3_server.filesystem()
    prefix = s3_server.new_prefix()
    for k in range(5):
        start_upload(fs, f"{prefix}/out/k{k}", part=None)
    monkeypatch.setattr(uploads, "PAGE", 2)
    folder = f"s3://{prefix}/out"
    assert [key for key, _ in uploads.incomplete_uploads(folder, s3_server.storage_options)] == [
        f"k{k}" for k in range(5)]
    assert uploads.abort_incomplete_uploads(folder, lambda key: True, s3_server.storage_options) == 5
    assert uploads.incomplete_uploads(folder, s3_server.storage_options) == []


@pytest.mark.parametrize("where", ["local", "memory://uploads-test/out"])
def test_stores_without_multipart_uploads_have_none(where, tmp_path):
    folder = str(tmp_path / "out") if where == "local" else where
    assert uploads.incomplete_uploads(folder) == []
    assert uploads.abort_incomplete_uploads(folder, lambda key: True) == 0


def test_credentials_refused_the_listing_leave_a_warning_not_an_error(s3_server, caplog):
    fs = s3_server.filesystem()
    prefix = s3_server.new_prefix()
    upload_id = start_upload(fs, f"{prefix}/out/_work/a.parquet")
    refused = {**s3_server.storage_options, "secret": "not-the-secret"}  # the server refuses every request
    assert uploads.abort_incomplete_uploads(f"s3://{prefix}/out", lambda key: True, refused) == 0
    assert "s3:ListBucketMultipartUploads" in caplog.text and "not-the-secret" not in caplog.text
    assert uploads.incomplete_uploads(f"s3://{prefix}/out", s3_server.storage_options) == [("_work/a.parquet", upload_id)]
