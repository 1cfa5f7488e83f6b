"""What Celery's task events, and so Flower, say about a job's run: what the ledger says.

Celery takes a task's state from how its body ends: a body that returns is `task-succeeded`
(SUCCESS), whatever the ledger recorded. So once jobs.worker.execution has recorded a run's
outcome, it ends the run the way Celery reads it:

    ledger      the run ends with            worker                    Flower
    finished    a return                     ack, task-succeeded       SUCCESS
    scheduled   Retry (`ending`)             ack, task-retried         RETRY
    discarded   JobDiscarded (`ending`)      ack, task-revoked         REVOKED
    failed      the job's error, re-raised   ack, task-failed          FAILURE

Celery publishes nothing for a Retry raised this way (the dispatcher runs the retry when it
is due) and logs a retry or a discard as one INFO line, not an error with a traceback.

A discard is REVOKED, not REJECTED: Celery's event state ranks REJECTED before STARTED, so a
task rejected after it started stays STARTED in Flower, and `Reject(requeue=False)` also
sends task-failed, which outranks both (celery.events.state, celery.worker.request).

Jobs ignore Celery's results (`ignore_result`, and `store_errors_even_if_ignored` is off), so
none of these writes a TaskResult: the ledger's outcome (jobs.worker.outcomes) is the only
writer, and the TaskResult says RETRY, REJECTED, FAILURE or SUCCESS as the ledger wrote it.
"""

from __future__ import annotations

from typing import Any

from celery.exceptions import Ignore, Retry
from celery.worker.request import Request

from jobs.ledger import writes
from jobs.models import State


class JobDiscarded(Ignore):
    """Ends a run whose discard is recorded; its message is the reason."""


def ending(outcome: writes.Outcome, error: Exception) -> Retry | JobDiscarded:
    """The exception that ends a run whose retry or discard the ledger has recorded."""
    if outcome.state == State.SCHEDULED:
        return Retry(exc=error, when=outcome.retry_at)
    if outcome.state == State.DISCARDED:
        error_class, message, _ = outcome.error
        return JobDiscarded(f"{error_class}: {message}")
    raise ValueError(f"A run that ended {outcome.state} ends with its own return or error.")


class JobRequest(Request):
    """A job's message in the worker's main process (ApplicationJob.Request): Celery acks an
    Ignore and says nothing more; a discard also sends task-revoked."""

    def on_failure(
        self, exc_info: Any, send_failed_event: bool = True, return_ok: bool = False
    ) -> None:
        super().on_failure(exc_info, send_failed_event=send_failed_event, return_ok=return_ok)
        if isinstance(exc_info.exception, JobDiscarded):
            self.send_event(
                "task-revoked",
                terminated=False,
                signum=None,
                expired=False,
                exception=str(exc_info.exception),
            )
