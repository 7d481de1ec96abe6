"""`output.path` on an object store (issue 14), on a real S3 server (SeaweedFS): the same output
as a local folder, resume, atomicity under kill -9 and a server outage, the run lease, `--fresh`
on a bucket prefix, secrets kept out of every file and log, and the writability probe."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from operators.base import GlobalOperator
from operators.registry import get as get_operator
from pipeline.recipe import validate_recipe
from pipeline.runner import run_recipe
from storage.location import Location
from tests.conftest import ROOT
from tests.s3_server import SECRET_KEY

CLI_TIMEOUT = 600


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "200", **(env or {})}, timeout=CLI_TIMEOUT)


def demo_recipe(out: str, storage_options: dict[str, Any] | None = None, shard_local_only: bool = False,
                through: str | None = None) -> dict:
    """configs/demo.yaml (the README's first command: global steps too, dedup and training), or
    its shard-local steps, or its steps up to `through`, read from here."""
    data = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())
    data["input"]["path"] = str(ROOT / "configs" / "sample_data" / "part-*")
    data["output"]["path"] = out
    data["output"]["report"] = False
    if through is not None:
        names = [next(iter(step)) for step in data["steps"]]
        data["steps"] = data["steps"][:names.index(through) + 1]
    elif shard_local_only:
        steps = []
        for step in data["steps"]:
            if issubclass(get_operator(next(iter(step))), GlobalOperator):
                break
            steps.append(step)
        data["steps"] = steps
    if storage_options:
        data["storage_options"] = storage_options
    return data


def write_yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def parquet_rows(folder: Location) -> dict[str, list[dict[str, Any]]]:
    return {n: folder.joinpath(n).read_table().to_pylist() for n in folder.list_names() if n.endswith(".parquet")}


def snapshot(out: Location) -> dict[str, Any]:
    """What a run's output says, wherever it is: kept, rejected and quarantined rows, counts."""
    stats = (out / "stats.json").read_json()
    rejected = {step: parquet_rows(out / "rejected" / step) for step in (out / "rejected").list_names()}
    return {
        "kept": parquet_rows(out),
        "rejected": rejected,
        "quarantine": parquet_rows(out / "quarantine"),
        "steps": [(t["operator"], t["documents_in"], t["documents_out"], t["removed"]) for t in stats["steps"]],
        "accounting": stats["accounting"],
        "quarantined": stats["input"]["quarantined"],
    }


def objects(server, bucket: str, prefix: str) -> dict[str, tuple[str, str]]:
    """key -> (ETag, LastModified) of every object under a prefix."""
    fs = server.filesystem()
    fs.invalidate_cache()
    found = fs.find(f"{bucket}/{prefix}", detail=True)
    return {k: (str(v.get("ETag")), str(v.get("LastModified"))) for k, v in found.items() if v.get("type") == "file"}


@pytest.fixture(scope="module")
def local_demo(tmp_path_factory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("local-demo") / "out"
    run_recipe(validate_recipe(demo_recipe(str(out))))
    return snapshot(Location(out))


def test_demo_on_s3_equals_local_keeps_secrets_out_and_reruns_as_a_no_op(s3_server, local_demo, tmp_path):
    bucket = s3_server.new_prefix()
    url = f"s3://{bucket}/runs/demo"
    data = demo_recipe(url, s3_server.storage_options)
    data["output"]["report"] = True
    recipe = write_yaml(tmp_path / "demo.yaml", data)
    first = cli("run", str(recipe))
    assert first.returncode == 0, first.stderr
    out = Location(url, s3_server.storage_options)
    assert snapshot(out) == local_demo
    # secrets: never in the manifest, the accounting, the report or what the run printed
    for name in ("_work/recipe.json", "stats.json", "report.html"):
        assert SECRET_KEY not in (out / name).read_text(), name
    assert SECRET_KEY not in first.stdout + first.stderr
    assert (out / "_work" / "recipe.json").read_json()["recipe"]["storage_options"]["secret"] == "***"
    assert not (out / ".pipeline.lock").exists()  # the lease is released
    assert any(removed for op, _, _, removed in local_demo["steps"] if op in ("exact_dedup", "minhash_dedup"))
    assert (out / "artifacts").list_names() == ["bpe1k", "exact_dedup_index", "lm"]  # what the training steps made
    work = [k for k in objects(s3_server, bucket, "runs/demo/_work")]
    assert work and all(k.endswith(".json") for k in work), work  # global steps' work data deleted: marks stay
    before = objects(s3_server, bucket, "runs/demo")
    again = cli("run", str(recipe), "--no-report")
    assert again.returncode == 0, again.stderr
    after = objects(s3_server, bucket, "runs/demo")
    rewritten = {k for k in after if before.get(k) != after[k]}
    assert rewritten <= {f"{bucket}/runs/demo/stats.json"}  # no shard task ran again: only the accounting
    assert snapshot(out) == local_demo


def test_credentials_from_the_environment(s3_server, local_demo, tmp_path):
    bucket = s3_server.new_prefix()
    recipe = write_yaml(tmp_path / "r.yaml", demo_recipe(f"s3://{bucket}/env"))  # no storage_options
    proc = cli("run", str(recipe), "--quiet", env=s3_server.env)
    assert proc.returncode == 0, proc.stderr
    assert snapshot(Location(f"s3://{bucket}/env", s3_server.storage_options)) == local_demo


def _with_endpoint(server, endpoint: str) -> dict[str, Any]:
    return {**server.storage_options, "client_kwargs": {"endpoint_url": endpoint, "region_name": "us-east-1"}}


@pytest.mark.parametrize("case", ["unknown scheme", "missing bucket", "wrong secret", "unreachable endpoint"])
def test_validate_names_the_output_url_and_the_cause_in_one_line(s3_server, tmp_path, case):
    bucket = s3_server.new_prefix()
    url, options, cause = {
        "unknown scheme": ("nosuchscheme://b/out", s3_server.storage_options, "unknown or unavailable storage scheme"),
        "missing bucket": ("s3://no-such-bucket-here/out", s3_server.storage_options, "does not exist"),
        "wrong secret": (f"s3://{bucket}/out", {**s3_server.storage_options, "secret": "not-the-secret"},
                         "access denied"),
        "unreachable endpoint": (f"s3://{bucket}/out", _with_endpoint(s3_server, "http://127.0.0.1:9"),
                                 "cannot reach the store"),
    }[case]
    recipe = write_yaml(tmp_path / "r.yaml", demo_recipe(url, options))
    for command in ("validate", "run"):
        proc = cli(command, str(recipe))
        assert proc.returncode != 0
        problem = [line for line in proc.stderr.splitlines() + proc.stdout.splitlines() if "output.path" in line]
        assert len(problem) == 1 and url in problem[0] and cause in problem[0], proc.stderr + proc.stdout
        assert "Traceback" not in proc.stderr and "not-the-secret" not in proc.stderr + proc.stdout
    assert not s3_server.filesystem().exists("no-such-bucket-here")  # the probe created no bucket
    assert objects(s3_server, bucket, "") == {}  # and left nothing behind


def test_output_inside_a_remote_input_prefix_is_refused(s3_server):
    from pipeline.io.readers import InputError

    bucket = s3_server.new_prefix()
    fs = s3_server.filesystem()
    fs.put_file(str(ROOT / "configs" / "sample_data" / "part-0.parquet"), f"{bucket}/in/part-0.parquet")
    data = demo_recipe(f"s3://{bucket}/in/out", s3_server.storage_options)
    data["input"] = {"path": f"s3://{bucket}/in", "storage_options": s3_server.storage_options}
    with pytest.raises(InputError, match="is inside the input prefix"):
        run_recipe(validate_recipe(data))
    data["output"]["path"] = f"s3://{bucket}/in"
    with pytest.raises(InputError, match="is the input prefix"):
        run_recipe(validate_recipe(data))
    assert list(objects(s3_server, bucket, "in")) == [f"{bucket}/in/part-0.parquet"]


def test_fresh_on_a_bucket_prefix_deletes_only_what_the_manifest_lists(s3_server):
    bucket = s3_server.new_prefix()
    fs = s3_server.filesystem()
    url = f"s3://{bucket}/runs/demo"
    data = demo_recipe(url, s3_server.storage_options, shard_local_only=True)
    run_recipe(validate_recipe(data))
    fs.pipe_file(f"{bucket}/runs/demo/notes.txt", b"mine")
    fs.pipe_file(f"{bucket}/runs/demo/mine.parquet", b"not a shard of this run")
    fs.pipe_file(f"{bucket}/runs/demo-other/part-0.parquet", b"beside the prefix")
    data["steps"] = data["steps"][:1]  # another recipe: refused without --fresh, replaced with it
    from pipeline.io.readers import InputError

    with pytest.raises(InputError, match="different recipe"):
        run_recipe(validate_recipe(data))
    run_recipe(validate_recipe(data), fresh=True)
    assert fs.cat(f"{bucket}/runs/demo/notes.txt") == b"mine"
    assert fs.cat(f"{bucket}/runs/demo/mine.parquet") == b"not a shard of this run"
    assert fs.cat(f"{bucket}/runs/demo-other/part-0.parquet") == b"beside the prefix"
    out = Location(url, s3_server.storage_options)
    assert objects(s3_server, bucket, "runs/demo/rejected") == {}  # the old run's (normalize_text removes nothing)
    assert [t["operator"] for t in (out / "stats.json").read_json()["steps"]] == ["normalize_text"]


def test_a_foreign_prefix_is_refused_and_left_alone(s3_server):
    from pipeline.io.readers import InputError

    bucket = s3_server.new_prefix()
    fs = s3_server.filesystem()
    fs.pipe_file(f"{bucket}/data/part-0.parquet", b"someone's data")
    with pytest.raises(InputError, match="holds no run of this pipeline"):
        run_recipe(validate_recipe(demo_recipe(f"s3://{bucket}/data", s3_server.storage_options)), fresh=True)
    assert list(objects(s3_server, bucket, "")) == [f"{bucket}/data/part-0.parquet"]

