"""The output folder's life cycle: who may write it, what it holds, what may be deleted.

- The output folder and the input never overlap (the run would read its own output, and
  `--fresh` could delete input).
- One run at a time holds the folder (`storage.lock`); nothing is deleted before the lock
  is taken.
- `_work/recipe.json`, the manifest, records the recipe's fingerprint, the recipe with its secrets
  masked, the input listing (path, size, mtime or etag) and the shard names. A rerun resumes only
  when both the recipe and the input listing are unchanged; otherwise it refuses naming the change.
- `--fresh` deletes only what a run of this pipeline wrote there, as its manifest says: output
  shards named after its shards, `rejected/`, `quarantine/`, `artifacts/`, `stats.json`,
  `report.html`, `_work/` and their temporaries. A folder without a manifest is never emptied.
- After a successful run, work data (materialized segments, the data of global stages) is
  deleted unless `output.keep_intermediate`; completion marks stay, so a rerun is a no-op.

The folder is a local path or an fsspec URL (`storage.location.Location`); on an object store the
lock is a lease object (storage.lease) and `check_writable` probes the store before any work.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
from pathlib import Path
from typing import Any

from operators.base import GlobalOperator, Operator
from pipeline.io.readers import InputError, Shard
from pipeline.io.writers import atomic_write_json
from pipeline.output_store import check_writable, describe_store_error, store_errors  # noqa: F401
from pipeline.plan import Layout, Segment, output_location
from pipeline.recipe import Recipe
from pipeline.report.environment import mask_secrets
from pipeline.shard_list import is_shard_list
from storage import files, many, uploads
from storage.location import Location
from storage.lock import LOCK_NAME, FolderLocked, RunLock, run_lock

log = logging.getLogger("pipeline.output")

OWNED_DIRS = ("rejected", "quarantine", "artifacts")  # and _work, deleted last
OWNED_FILES = ("stats.json", "report.html")
TEMPORARY = re.compile(r"^\.(?P<final>.+)\.tmp-\d+(-[0-9a-f]+)?$")  # storage.files.temp_name
MAGIC = re.compile(r"[*?\[]")
MANIFEST_FORMAT = 2


class OutputWriteError(InputError):
    """Writing to the output folder failed (disk full, read-only, permissions): one clear line."""


def write_error(exc: BaseException, out: Location, what: str) -> OutputWriteError:
    cause = describe_store_error(exc)
    filename = getattr(exc, "filename", None)
    where = f"{filename} (output folder {out})" if filename else f"the output folder {out}"
    fix = ("check that the store is reachable and the credentials are right" if out.is_remote
           else "free space or fix permissions")
    return OutputWriteError(f"{what}: cannot write to {where}: {cause}; {fix}, then rerun the same command to resume")


# ---- the input and the output never overlap -----------------------------------------------------


def _local(path: str) -> str | None:
    protocol, rest = files.split_protocol(path)
    return os.path.abspath(os.path.expanduser(rest)) if protocol in (None, "file", "local") else None


def _inside(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


def _remote_key(url: str) -> str | None:
    """`protocol://bucket/key` without a trailing slash, for comparing object-store locations."""
    protocol, rest = files.split_protocol(url)
    if protocol in (None, "file", "local"):
        return None
    return f"{'s3' if protocol == 's3a' else protocol}://{rest.strip('/')}"


def _remote_inside(child: str, parent: str) -> bool:
    return child == parent or child.startswith(parent + "/")


def check_no_overlap(spec: Any, shards: list[Shard], out_loc: Location) -> None:
    """Refuse an output folder that is (inside) an input folder, or that holds input files."""
    if out_loc.is_remote:
        _check_no_remote_overlap(spec, shards, out_loc)
        return
    out = out_loc.path.resolve()
    for raw in spec.path if isinstance(spec.path, list) else [spec.path]:
        local = _local(raw)
        if local is None:
            continue  # remote input: never on this machine's output folder
        parts = Path(local).parts
        cut = next((k for k, p in enumerate(parts) if MAGIC.search(p)), None)
        base = Path(*parts[:cut]).resolve() if cut is not None else Path(local).resolve()
        if cut is None and not base.is_dir():
            continue  # a single input file: checked below with the others
        if out == base:
            raise InputError(f"output folder {out} is the input folder of input.path {raw!r}: the run would read its own "
                             f"output, and --fresh would delete input; choose another output.path")
        if not _inside(out, base):
            continue
        if cut is not None and not _pattern_reaches(parts[cut:], out.relative_to(base)):
            continue
        raise InputError(f"output folder {out} is inside the input folder {base} (input.path {raw!r}): the run would "
                         f"read its own output as input; choose an output.path outside it")
    for shard in shards:
        local = _local(shard.path)
        if local is not None and _inside(Path(local).resolve(), out):
            raise InputError(f"input file {shard.path} lies inside the output folder {out}; choose another output.path")


def _check_no_remote_overlap(spec: Any, shards: list[Shard], out_loc: Location) -> None:
    """The same on an object store, where a folder is a key prefix."""
    out = _remote_key(out_loc.url)
    assert out is not None
    for raw in spec.path if isinstance(spec.path, list) else [spec.path]:
        key = _remote_key(raw)
        if key is None:
            continue
        parts = key.split("/")
        cut = next((k for k, p in enumerate(parts) if k > 1 and MAGIC.search(p)), None)
        base = "/".join(parts[:cut]) if cut is not None else key
        if out == base:
            raise InputError(f"output {out_loc} is the input prefix of input.path {raw!r}: the run would read its own "
                             f"output, and --fresh would delete input; choose another output.path")
        if _remote_inside(out, base) and (cut is None or _pattern_reaches(tuple(parts[cut:]),
                                                                          Path(out[len(base) + 1:]))):
            raise InputError(f"output {out_loc} is inside the input prefix {base} (input.path {raw!r}): the run would "
                             f"read its own output as input; choose an output.path outside it")
    for shard in shards:
        key = _remote_key(shard.path)
        if key is not None and _remote_inside(key, out):
            raise InputError(f"input file {shard.path} lies inside the output {out_loc}; choose another output.path")


def _pattern_reaches(pattern: tuple[str, ...], below: Path) -> bool:
    """Whether a glob (the components after its fixed base) can match files under `below`."""
    if any("**" in p for p in pattern):
        return True
    steps = below.parts
    if len(pattern) <= len(steps):  # it matches files at len(pattern) levels: above the output folder
        return False
    from fsspec.utils import glob_translate

    regex = re.compile(glob_translate("/".join(pattern[:len(steps)])))
    return bool(regex.match("/".join(steps)))


# ---- the input listing ----------------------------------------------------------------------


def input_listing(shards: list[Shard], spec: Any) -> list[list[Any]]:
    """[path, size, version] per input file, in shard order: the version is the mtime in ns of a
    local file, the etag (else the modification time) of an object."""
    listing: list[list[Any]] = []
    for shard in shards:
        local = _local(shard.path)
        try:
            if local is not None:
                st = os.stat(local)
                listing.append([shard.path, st.st_size, st.st_mtime_ns])
                continue
            import fsspec

            fs, path = fsspec.core.url_to_fs(shard.path, **(spec.storage_options or {}))
            info = fs.info(path)
        except FileNotFoundError:
            raise InputError(f"{shard.path}: file not found (removed while the run started?)") from None
        version = next((info[k] for k in ("ETag", "etag", "md5", "mtime", "LastModified", "last_modified", "created")
                        if info.get(k) is not None), None)
        listing.append([shard.path, info.get("size"), str(version) if version is not None else None])
    return listing


def describe_change(before_list: list[list[Any]], now_list: list[list[Any]]) -> str:
    before = {p: rest for p, *rest in before_list}
    now = {p: rest for p, *rest in now_list}

    def names(paths: list[str]) -> str:
        return ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")

    added = sorted(set(now) - set(before))
    removed = sorted(set(before) - set(now))
    modified = sorted(p for p in set(now) & set(before) if list(now[p]) != list(before[p]))
    parts = [f"{label}: {names(paths)}" for label, paths in (("added", added), ("removed", removed),
                                                              ("modified", modified)) if paths]
    return "; ".join(parts) or "the order of the input files changed"


# ---- the manifest and --fresh ----------------------------------------------------------------


def _read_manifest(layout: Layout) -> dict[str, Any] | None:
    marker = layout.work / "recipe.json"
    try:
        raw = marker.read_bytes()
    except FileNotFoundError:
        return None
    try:
        data = json.loads(raw.decode("utf-8"))
    except ValueError:
        raise InputError(f"{marker} is not valid JSON: the folder's run record is damaged; "
                         f"choose another output.path, or delete {layout.out} yourself") from None
    return data if isinstance(data, dict) else {}


def _owned_shard_names(layout: Layout, manifest: dict[str, Any]) -> set[str]:
    names = set(manifest.get("shards") or [])
    if not names:  # a folder written before manifests listed shard names: its completion marks do
        for seg in (n for n in layout.work.list_names() if n.startswith("seg")):
            names |= layout.done_names(layout.work / seg / "_done")
    return names


def _owned(name: str, shard_names: set[str]) -> bool:
    """Whether a top-level entry of the output folder is something this pipeline writes."""
    m = TEMPORARY.match(name)
    if m:
        name = m.group("final")
    if name in OWNED_DIRS or name in OWNED_FILES or name == "_work":
        return True
    m = re.match(r"^(?P<shard>.+?)(-\d{5})?\.parquet$", name)
    return bool(m) and (m.group("shard") in shard_names or name[:-len(".parquet")] in shard_names)


def _unfinished_start(entry: Location) -> bool:
    """`_work/` holding only the temporary manifest of a first start that was killed."""
    if entry.name != "_work" or not (entry.is_remote or entry.path.is_dir()):
        return False
    return all(TEMPORARY.match(n) for n in entry.list_names())


def _key(loc: Location) -> str:
    """A comparable name: the resolved local path, or the normalized URL."""
    return str(loc.path.resolve()) if not loc.is_remote else (_remote_key(loc.url) or loc.url)


def delete_owned(layout: Layout, manifest: dict[str, Any], inputs: set[str]) -> None:
    """`--fresh`: delete what the manifest says this pipeline wrote; `_work/` (the manifest) last,
    so that an interrupted `--fresh` can be repeated."""
    shard_names = _owned_shard_names(layout, manifest)
    # every input and folder above one, once: a check per entry against every input was quadratic
    # (with a path resolution each), minutes for a run of a few thousand files
    holding = {"/".join(parts[:n]) for i in inputs for parts in [i.rstrip("/").split("/")]
               for n in range(1, len(parts) + 1)}
    for name in sorted(layout.out.list_names(), key=lambda n: n == "_work"):
        if name == LOCK_NAME or not _owned(name, shard_names):
            continue
        child = layout.out / name
        if _key(child).rstrip("/") in holding:
            raise InputError(f"--fresh would delete input under {child}; nothing was deleted there")
        child.delete()


def remove_stale_temporaries(layout: Layout, shard_names: set[str]) -> None:
    """Temporaries of killed runs (never under a final name); we hold the lock, so none is live."""
    for name in layout.out.list_names():
        if TEMPORARY.match(name) and _owned(name, shard_names):
            (layout.out / name).delete()
    for folder in ("_work", *OWNED_DIRS):
        files.remove_temporaries(layout.out / folder)
    # on S3, a process killed mid-upload leaves an incomplete multipart upload (unlisted, billed)
    uploads.abort_incomplete_uploads(layout.out, lambda key: _owned(key.split("/", 1)[0], shard_names))


# ---- preparing the folder -------------------------------------------------------------------


def check_lock(lock: Any) -> None:
    try:
        lock.check()
    except FolderLocked as exc:
        raise InputError(str(exc)) from None


def prepare_output(recipe: Recipe, shards: list[Shard], fresh: bool) -> tuple[Layout, RunLock]:
    """Check, lock and (with `fresh`) clear the output folder; returns it locked."""
    layout = Layout(output_location(recipe.output.path, recipe.storage_options))
    out = layout.out
    check_no_overlap(recipe.input, shards, out)
    problem = check_writable(recipe.output.path, recipe.storage_options)
    if problem:
        raise InputError(f"output.path: {problem}")
    lock = run_lock(out)
    try:
        out.mkdir()
        lock.acquire()
    except store_errors() as exc:
        raise InputError(f"output folder {out} is not writable: {describe_store_error(exc)}") from None
    except FolderLocked as exc:
        raise InputError(str(exc)) from None
    try:
        _prepare_locked(recipe, shards, fresh, layout)
    except store_errors() as exc:
        lock.release()
        raise write_error(exc, out, "preparing the output folder") from exc
    except BaseException:
        lock.release()
        raise
    return layout, lock


def _prepare_locked(recipe: Recipe, shards: list[Shard], fresh: bool, layout: Layout) -> None:
    out = layout.out
    manifest = _read_manifest(layout)
    foreign = sorted(n for n in out.list_names() if n != LOCK_NAME and not _unfinished_start(out / n))
    if manifest is None and foreign:
        hint = "--fresh deletes only what this pipeline wrote, and " if fresh else ""
        raise InputError(f"{hint}output folder {out} is not empty and holds no run of this pipeline "
                         f"({', '.join(foreign[:5])}); choose another output.path, or empty it yourself")
    if fresh and manifest is not None:
        inputs = {_key(Location(s.path)) for s in shards}
        delete_owned(layout, manifest, inputs)
        manifest = None
    listing = input_listing(shards, recipe.input)
    fp = recipe.fingerprint()
    remove_stale_temporaries(layout, _owned_shard_names(layout, manifest) if manifest else {s.name for s in shards})
    if manifest is None:
        atomic_write_json(layout.work / "recipe.json", {
            "format": MANIFEST_FORMAT, "fingerprint": fp, "recipe": mask_secrets(recipe.model_dump(mode="json")),
            "input": listing, "shards": [s.name for s in shards]})
        return
    if manifest.get("fingerprint") != fp:
        raise InputError(f"output folder {out} holds a run of a different recipe (fingerprint "
                         f"{manifest.get('fingerprint')} != {fp}); rerun with --fresh to start over (it deletes "
                         f"only what this pipeline wrote there), or choose another output.path")
    if "input" not in manifest:
        raise InputError(f"output folder {out} holds a run made before input listings were recorded, so it cannot "
                         f"tell whether the input changed; rerun with --fresh to start over")
    if manifest["input"] != listing:
        raise InputError(f"input changed since the run in {out}: {describe_change(manifest['input'], listing)}; "
                         f"rerun with --fresh to start over (it deletes only what this pipeline wrote there)")


# ---- after the run ---------------------------------------------------------------------------


def warn_about_kept_raw_text(recipe: Recipe, steps: list[Operator], segments: list[Segment], out: Location) -> None:
    """keep_intermediate keeps what precedes a PII step on disk: say so, once per run."""
    if not recipe.output.keep_intermediate:
        return
    redactors = [k for k, op in enumerate(steps) if op.redacts_sinks]
    for seg in segments[:-1]:
        late = [k for k in redactors if k >= seg.end]
        if late:
            k = late[0]
            log.warning("output.keep_intermediate: true keeps unscrubbed text on disk: %s/_work/seg%d holds documents "
                        "before step %d (%s); delete %s/_work when done, or set keep_intermediate: false",
                        out, seg.index, k, steps[k].name, out)
            return


def remove_work_data(layout: Layout, steps: list[Operator], segments: list[Segment]) -> None:
    """Delete materialized segments, global stages' data, the run's shard list and the partial
    files of killed workers (they may hold text from before a PII step); keep the completion marks."""
    if layout.work.is_remote:  # one listing and bulk deletes, not requests per file and folder
        doomed = [f"seg{seg.index}/" for seg in segments[:-1]]
        data = [f"{layout.step_dir(k, op).name}/data/" for k, op in enumerate(steps) if isinstance(op, GlobalOperator)]
        many.delete_files([layout.work / rel for rel in layout.work.walk()
                            if (rel.startswith(tuple(doomed)) and rel.count("/") == 1 and rel.endswith(".parquet"))
                            or rel.startswith(tuple(data)) or is_shard_list(rel)])
        return
    for name in layout.work.list_names():
        if is_shard_list(name):
            (layout.work / name).delete()
    for seg in segments[:-1]:
        folder = layout.segment_dir(seg)
        for name in folder.list_names():
            if name.endswith(".parquet"):
                (folder / name).delete()
    files.remove_temporaries(layout.work)
    for k, op in enumerate(steps):
        if isinstance(op, GlobalOperator):
            (layout.step_dir(k, op) / "data").delete()


def output_errors(exc: BaseException) -> bool:
    """Errors that mean the output cannot be written (not a lost connection to a cluster)."""
    return not isinstance(exc, ConnectionError) and getattr(exc, "errno", None) not in (errno.ETIMEDOUT,)
