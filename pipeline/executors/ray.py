"""Ray executor: the runner's shard and stage tasks run as Ray tasks, on a local Ray instance or
on a cluster.

Why plain tasks (and not Ray Data): the runner's unit of work is a shard task that writes its
output atomically and then a completion mark. Keeping that unit gives resume, retries and the
exact row order of the local executor for free; Ray only decides where each task runs.

- `address: null` starts a local Ray instance with `workers` CPUs (inside a Ray job, where
  `RAY_ADDRESS` is set, it joins that job's cluster instead); `auto` joins the cluster this
  machine belongs to; `ray://host:10001` connects as a Ray client; `host:port` joins that GCS.
  If this process already called `ray.init`, that connection is used as it is.
- The output folder (and the input) must be where every node reaches it under the same name: an
  object store (`s3://...`, no shared disk needed) or a filesystem every node mounts (NFS).
- Operators are built once per worker process: Ray reuses a job's worker processes across
  tasks, and `pipeline.worker.worker_steps` caches the built and set-up operators per recipe.
- Each task reserves the CPUs and memory its operators declare (`Operator.resources`,
  `Stage.resources`); a declaration larger than the largest node is cut to that node, with a
  warning, so that the run still starts.
- A worker process that dies mid-task (killed, out of memory, node lost) has its task retried
  up to `max_retries` times, on any live node (a task's writes are whole objects and marks, so a
  retry redoes it cleanly); then the run stops naming the task and what ended it. An operator's
  own exception is not retried: it is a bug or bad input and stops the run, as on the local executor.
- Progress: workers report documents read per batch to a small actor that the driver polls.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

from pipeline.errors import TaskFailed
from pipeline.executors.base import Backend, Task, documents_total, set_progress_hook
from pipeline.progress import ShardProgress

log = logging.getLogger(__name__)

MAX_RETRIES = 3  # a worker dying 4 times on one task is not a transient fault
POLL_SECONDS = 0.5  # how often the driver refreshes progress and checks for failures
CLIENT_CONNECT_TRIES = 3


def _run_task(task: Task, board: Any) -> dict[str, Any]:
    """Body of every Ray task: route per-batch progress to the board actor, then run the task."""
    if board is not None:
        set_progress_hook(lambda shard, docs: board.report.remote(shard, docs))
    try:
        return task.run()
    finally:
        set_progress_hook(None)


class _ProgressBoard:
    """Latest documents-read count per shard, written by workers and drained by the driver."""

    def __init__(self) -> None:
        self._latest: dict[str, int] = {}

    def report(self, shard: str, docs: int) -> None:
        self._latest[shard] = max(docs, self._latest.get(shard, 0))

    def drain(self) -> dict[str, int]:
        latest, self._latest = self._latest, {}
        return latest


class RayBackend(Backend):
    """Runs plain tasks as Ray tasks."""

    driver_reads_data = False  # the nodes may share no disk with the driver

    def __init__(self, address: str | None = None, workers: int = 1, progress: bool = True,
                 max_retries: int = MAX_RETRIES):
        self.address = address
        self.workers = workers
        self.show_progress = progress
        self.max_retries = max_retries
        self.startup_seconds = 0.0  # time spent starting or joining Ray (reported by bench/)
        self._owns_ray = False
        self._task: Any = None
        self._board: Any = None
        self._node_limits: tuple[float, float] | None = None
        self._warned: set[str] = set()

    # ---- connection ------------------------------------------------------------------------
    def connect(self) -> None:
        """Start or join Ray (once); `map` calls this, callers may call it early to time it."""
        import ray

        if self._task is not None:
            return
        started = time.perf_counter()
        if not ray.is_initialized():
            # nothing may reach the network at run time: a local instance and every process it
            # starts inherit this (Ray itself leaves usage statistics on in nightly wheels)
            os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
            quiet = {"logging_level": logging.WARNING, "log_to_driver": True}
            if self.address is None and not os.environ.get("RAY_ADDRESS"):
                # "local": a new instance even if `ray start` left a cluster on this machine
                ray.init(address="local", num_cpus=self.workers, include_dashboard=False, **quiet)
            else:
                _init_with_retries(self.address or "auto", quiet)
                _warn_if_cluster_reports_usage(self.address or "auto")
            self._owns_ray = True
        self._task = ray.remote(max_retries=self.max_retries, retry_exceptions=False)(_run_task)
        self.startup_seconds += time.perf_counter() - started

    def close(self) -> None:
        import ray

        if self._board is not None:
            ray.kill(self._board)
            self._board = None
        self._task = None
        if self._owns_ray:
            ray.shutdown()
            self._owns_ray = False

    # ---- resources -------------------------------------------------------------------------
    def _limits(self) -> tuple[float, float]:
        """CPUs and memory (bytes) of the largest node, to cut oversized declarations."""
        import ray

        if self._node_limits is None:
            nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
            self._node_limits = (max((n.get("CPU", 0.0) for n in nodes), default=1.0),
                                 max((n.get("memory", 0.0) for n in nodes), default=0.0))
        return self._node_limits

    def _options(self, task: Task) -> dict[str, Any]:
        cpus, mem, who = task.resources.cpus, task.resources.memory_gb * 1e9, task.resources.declared_by
        max_cpus, max_mem = self._limits()
        if cpus > max_cpus:
            self._warn(who, f"{who} declares {cpus:g} CPUs; the largest node has {max_cpus:g}: using {max_cpus:g}")
            cpus = max_cpus
        if max_mem and mem > max_mem:
            self._warn(who, f"{who} declares {mem / 1e9:.1f} GB; the largest node has "
                            f"{max_mem / 1e9:.1f} GB: using that")
            mem = max_mem
        options: dict[str, Any] = {"num_cpus": cpus}
        if mem > 0:
            options["memory"] = int(mem)
        return options

    def _warn(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message)

    # ---- running ---------------------------------------------------------------------------
    def _progress_board(self) -> Any:
        import ray

        if self._board is None:
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

            # on the driver's node: losing another node must not take the progress display along
            here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=True)
            self._board = ray.remote(num_cpus=0, scheduling_strategy=here)(_ProgressBoard).remote()
        return self._board

    def _drain_progress(self, board: Any, bar: ShardProgress, finished: set[str]) -> Any:
        """Move workers' progress reports to the bars (a report that arrives after its shard's
        result is stale); returns the board, or None once it is lost."""
        import ray
        from ray.exceptions import RayActorError

        try:
            latest = ray.get(board.drain.remote())
        except RayActorError as exc:
            log.warning("progress display stopped: its actor was lost (%s); the run goes on", exc)
            self._board = None
            return None
        for shard, docs in latest.items():
            if shard not in finished:
                bar.update(shard, docs)
        return board

    def map(self, tasks: list[Task], label: str) -> list[dict[str, Any]]:
        if not tasks:
            return []
        import ray

        self.connect()
        show = self.show_progress and any(t.progress_key for t in tasks)
        bar = ShardProgress(label, documents_total(tasks) if show else None, enabled=show)
        board = self._progress_board() if show else None
        # named as errors name them ("shard s3://b/in/part-0.parquet"): Ray's dashboard and state API show it
        refs = [self._task.options(name=task.name, **self._options(task)).remote(task, board) for task in tasks]
        index = {ref: i for i, ref in enumerate(refs)}
        results: list[dict[str, Any] | None] = [None] * len(tasks)
        pending = list(refs)
        finished: set[str] = set()
        try:
            while pending:
                # returns at once when everything is done, else after POLL_SECONDS with what is
                done, pending = ray.wait(pending, num_returns=len(pending), timeout=POLL_SECONDS)
                if board is not None:
                    board = self._drain_progress(board, bar, finished)
                for ref in done:
                    i = index[ref]
                    results[i] = result = self._result(ref, tasks[i], label)
                    key = tasks[i].progress_key
                    if show and key:  # exact final count from the result: per-batch reports may still be in flight
                        bar.update(key, result.get("progress_documents", 0))
                        bar.shard_done(key)
                        finished.add(key)
        except BaseException:
            for ref in pending:
                ray.cancel(ref)
            raise
        finally:
            bar.close()
        return results  # type: ignore[return-value]

    def _result(self, ref: Any, task: Task, label: str) -> dict[str, Any]:
        import ray
        from ray.exceptions import RayError, RayTaskError

        try:
            return ray.get(ref)
        except RayTaskError as err:
            cause = getattr(err, "cause", None)
            if isinstance(cause, BaseException):
                raise cause from err  # the operator's own error (StepError, InputError...), unwrapped
            raise
        except RayError as err:  # worker died more than max_retries times, node lost, ...
            tries = self.max_retries + 1
            raise TaskFailed(f"{label}: {task.name} failed on Ray {tries} time{'s' if tries > 1 else ''} "
                             f"(the last: {_system_failure(err)}); rerun the same command to resume") from err


def _system_failure(err: Exception) -> str:
    """What ended a task's last try, in one line: Ray's messages run over several sentences and
    lines, with advice about Ray's own tools."""
    from ray.exceptions import NodeDiedError, OutOfMemoryError, TaskCancelledError, WorkerCrashedError

    first = str(err).strip().split(". ", 1)[0].splitlines()[0] if str(err).strip() else ""
    node = _node_id(str(err))
    if isinstance(err, NodeDiedError):
        return f"the node running it was lost{f' (node {node})' if node else ''}"
    if isinstance(err, OutOfMemoryError):
        return "Ray killed its worker process for lack of memory"
    if isinstance(err, WorkerCrashedError):
        return "its worker process died"
    if isinstance(err, TaskCancelledError):
        return "it was cancelled"
    return f"{type(err).__name__}: {first}"


def _node_id(message: str) -> str | None:
    import re

    found = re.search(r"node ID: ([0-9a-f]+)", message)
    return found.group(1) if found else None


def _init_with_retries(address: str, options: dict[str, Any]) -> None:
    """Join a cluster. A Ray Client connection (`ray://`) is tried up to CLIENT_CONNECT_TRIES
    times: its server sometimes loses the process it starts per client (ray-project/ray#63202,
    `ConnectionAbortedError: Initialization failure from server`); a new attempt starts another."""
    import ray

    tries = CLIENT_CONNECT_TRIES if address.startswith("ray://") else 1
    for attempt in range(1, tries + 1):
        try:
            ray.init(address=address, **options)
            return
        except ConnectionError as exc:
            if attempt == tries:
                raise
            log.warning("connecting to %s failed (attempt %d of %d), trying again: %s", address, attempt, tries,
                        str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__)
            ray.shutdown()
            time.sleep(attempt)


def _warn_if_cluster_reports_usage(address: str) -> None:
    """A joined cluster's head decided at `ray start` whether it sends usage statistics; this
    process cannot turn that off, so it says so. The head records extra fields in its cluster
    metadata only when they are on (`usage_lib._generate_cluster_metadata`, Ray 2.x)."""
    try:
        from ray._common.usage import usage_constant
        from ray._private import ray_constants
        from ray.experimental.internal_kv import _internal_kv_get

        raw = _internal_kv_get(usage_constant.CLUSTER_METADATA_KEY, namespace=ray_constants.KV_NAMESPACE_CLUSTER)
    except (ImportError, AttributeError, RuntimeError) as exc:  # Ray internals moved: say that we cannot tell
        log.warning("cannot tell whether the Ray cluster at %s sends usage statistics (%s: %s); start it with "
                    "`ray start --disable-usage-stats` to be sure", address, type(exc).__name__, exc)
        return
    if raw and "session_start_timestamp_ms" in json.loads(raw):
        log.warning("the Ray cluster at %s sends usage statistics to Ray (usage-stats.ray.io): restart it with "
                    "`ray start --disable-usage-stats` or RAY_USAGE_STATS_ENABLED=0", address)
