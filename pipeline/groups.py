"""Many small files as one task, so that 50,000 files of 20 documents do not pay each a task's
round trip (submission, a pickled argument, a result, a progress bar).

Consecutive files (in the listing order) of at most half `rows_per_task` rows share a task of at
most `rows_per_task` rows and MAX_GROUP_FILES files. The task runs its files one after another,
each exactly as its own task would (the same function and argument): each file keeps its output
names, rejected and quarantine files and completion mark, so resume, stats.json and the
accounting do not see the grouping, and a rerun redoes only the files without a mark. Membership
depends only on the files left to do and `rows_per_task`, never on the workers or the executor;
the output does not depend on it at all. The rows come from the file plans (pipeline/io/pieces.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipeline.executors.base import Task, progress_counted_as

# each file keeps its own work (reads, writes, mark: ~10 ms locally, bench/RESULTS.md "Many small
# files"), so a group of tiny files is bounded by files too: enough tasks to balance the workers
MAX_GROUP_FILES = 100


def plan_groups(names: list[str], rows: list[int | None], rows_per_task: int | None) -> dict[str, int]:
    """The files that share a task: name -> its group's number, for groups of two files or more.
    A file of unknown rows or of more than half `rows_per_task` rows runs alone, and ends the
    group before it; `rows_per_task` 0 or None groups nothing."""
    if not rows_per_task:
        return {}
    groups: list[list[str]] = []
    current: list[str] = []
    total = 0
    for name, n in zip(names, rows, strict=True):
        small = n is not None and 2 * n <= rows_per_task
        if current and (not small or total + (n or 0) > rows_per_task or len(current) == MAX_GROUP_FILES):
            groups.append(current)
            current, total = [], 0
        if small:
            current.append(name)
            total += n or 0
    if current:
        groups.append(current)
    return {name: g for g, members in enumerate(groups) if len(members) > 1 for name in members}


@dataclass
class TaskGroup:
    tasks: list[Task]
    progress_key: str | None  # the group's bar, on which its tasks' documents count


def run_task_group(group: TaskGroup) -> dict[str, Any]:
    """Run the group's tasks in order; their results, and the documents read, for the bar."""
    results = []
    documents = 0
    for task in group.tasks:
        if group.progress_key is None:
            result = task.run()
        else:
            with progress_counted_as(group.progress_key, documents):
                result = task.run()
        documents += result.get("progress_documents", 0)
        results.append(result)
    return {"tasks": results, "progress_documents": documents}


def bundle(tasks: list[Task], groups: list[int | None]) -> list[Task]:
    """Consecutive tasks of the same group number as one task each group; a task whose number is
    None, or alone in its group, stays as it is."""
    out: list[Task] = []
    i = 0
    while i < len(tasks):
        j = i + 1
        while groups[i] is not None and j < len(tasks) and groups[j] == groups[i]:
            j += 1
        out.append(tasks[i] if j == i + 1 else _group_task(tasks[i:j]))
        i = j
    return out


def _group_task(tasks: list[Task]) -> Task:
    first, last = tasks[0], tasks[-1]
    for task in tasks:  # each task's completion mark names the executor task it ran in (stats.json counts them)
        if hasattr(task.arg, "executor_task"):
            task.arg.executor_task = first.name
    key = f"{first.progress_key} … {last.progress_key} ({len(tasks)} files)" if first.progress_key else None
    known = [t.documents for t in tasks if t.documents is not None]
    return Task(run_task_group, TaskGroup(tasks, key), f"{len(tasks)} tasks: {first.name} … {last.name}",
                first.resources, progress_key=key, documents=sum(known) if len(known) == len(tasks) else None)


def unbundled(tasks: list[Task], outcomes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The results of a map over bundled tasks, one a task as if none had been grouped."""
    return [r for task, outcome in zip(tasks, outcomes, strict=True)
            for r in (outcome["tasks"] if isinstance(task.arg, TaskGroup) else [outcome])]


def name_at_fault(message: str, tasks: list[Task], done: Callable[[Task], bool]) -> str:
    """An executor's failure message names a group task; its tasks run in order and each leaves
    its completion mark, so the one running when its worker died is the first not done: name it."""
    for task in tasks:
        if isinstance(task.arg, TaskGroup) and task.name in message:
            at_fault = next((t for t in task.arg.tasks if not done(t)), None)
            if at_fault is not None:
                message = message.replace(task.name, at_fault.name)
    return message
