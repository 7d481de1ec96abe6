"""Where a model trained earlier in the same recipe lives.

A `train_lm` step writes its model under the run's artifacts folder (`<output>/artifacts/
<artifact>`). A later step names it `artifact:<artifact>`; the run's artifacts folder is
known in a worker process once a step of this run has been bound to its stage context (the
`train_lm` step binds itself in every segment it runs in), or, if the executor gives every
operator the run's artifacts folder (`_run_artifacts`), from that.
"""

from __future__ import annotations

from pathlib import Path

PREFIX = "artifact:"
_run_artifacts: Path | None = None


def set_run_artifacts(path: Path | None) -> None:
    global _run_artifacts
    if path is not None:
        _run_artifacts = Path(path)


def run_artifacts() -> Path | None:
    return _run_artifacts


def resolve(ref: str, who: str, bound: Path | None = None) -> Path:
    """A folder path, or `artifact:<name>` under the run's artifacts folder (`bound`: the folder
    the executor gave the asking operator, when it does; else what this process learned)."""
    if not ref.startswith(PREFIX):
        return Path(ref)
    name = ref[len(PREFIX):].strip("/")
    if bound is not None:
        return Path(bound) / name
    if _run_artifacts is None:
        raise FileNotFoundError(
            f"{who}: {ref!r} names a model trained earlier in this recipe, but no step of this run has told this "
            f"process where the run's artifacts are; put a train_lm step (artifact: {name}) before this step in the "
            "same recipe, or give the model folder's path")
    return _run_artifacts / name
