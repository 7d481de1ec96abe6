"""Errors of a run that the CLI reports in one line (input and recipe errors live with their readers)."""


class AccountingError(RuntimeError):
    """Documents in != kept + removed: a bug, never to be ignored."""


class StepError(RuntimeError):
    """An operator failed; names the step, operator and shard."""


class TaskFailed(StepError):
    """A task's worker process died more often than the executor retries; names the task."""
