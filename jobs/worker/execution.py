"""What a worker does with a job message: claim, run, record the outcome.

    claim (ready → claimed, attempt counted; adopts messages with no ledger row)
    run
    finished | scheduled for a retry (retry_on) | discarded (discard_on) | failed

Each step is a statement in jobs.ledger.writes made here, where its failure is seen: nothing is
written from Celery signal handlers, whose exceptions Celery logs and swallows. One exception:
a message Celery drops as revoked (or expired), and a run a revoke terminates, which Celery
reports only by its `task_revoked` signal, end their job `discarded` (record_revoked, which
catches and logs its own failure: the job stays ready, comes back, and is dropped again).

Successful runs' outcomes are written in batches by a timer thread, every 100 ms or 500
jobs (jobs.worker.outcomes, one statement per batch; docs/PERFORMANCE.md); failures, retries
and discards at once. Once a job is claimed, it gets an outcome whatever goes wrong: an outcome
waits while PostgreSQL is away, and one PostgreSQL refuses releases its job for another run.
A process that dies with outcomes unwritten leaves those jobs `claimed`, re-run like the jobs
of any dead worker (at-least-once). The run then ends as Celery reads it: a retry raises
Retry, a discard JobDiscarded, a failure the job's error (jobs.worker.task_events), so
Flower shows what the ledger says.
"""

from __future__ import annotations

import logging
import random
import time
import traceback
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol, cast

from celery import states
from celery.app.task import Context
from django.db import DatabaseError, close_old_connections, connection
from django.utils import timezone

from jobs.ledger import pauses, writes
from jobs.models import State
from jobs.worker import processes, task_events, workerdb
from jobs.worker.outcomes import OUTAGE, OutcomeBuffer
from jobs.worker.state import this_process

if TYPE_CHECKING:
    from jobs.base import ApplicationJob

logger = logging.getLogger("jobs")


# The outcomes of this process's runs, written in batches; flushed before the process's row
# goes and at exit (jobs.worker.hooks).
outcomes = OutcomeBuffer()
# How long a worker trusts its last read of the queue pauses.
PAUSES_READ_EVERY = 1.0


def is_paused(queue: str) -> bool:
    """For the hot path: the pauses, read at most once a second per process."""
    now = time.monotonic()
    if now - this_process.paused_read_at > PAUSES_READ_EVERY:
        this_process.paused, this_process.paused_read_at = pauses.read_paused(), now
    return queue in this_process.paused


def run_job(task: ApplicationJob, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    request = task.request
    job_id = request.id
    assert job_id is not None  # a worker runs a message, and every message has its task id
    delivery = request.delivery_info or {}
    queue = delivery.get("routing_key") or task.queue
    if is_paused(queue):
        writes.hand_back(job_id)
        logger.info("job.paused class=%s id=%s queue=%s: handed back", task.name, job_id, queue)
        return None
    claim = writes.claim(
        job_id=job_id,
        class_name=task.name,
        queue=queue,
        priority=delivery.get("priority") or 0,
        args=list(args),
        kwargs=kwargs,
        worker=request.hostname or "",
        process_id=processes.current_id(),
        max_attempts=task.max_attempts,
    )
    log: dict[str, object] = {"job_class": task.name, "job_id": job_id, "queue": queue}
    if claim is None:
        logger.info(
            "job.skip class=%s id=%s: not ready (duplicate or already done)",
            task.name,
            job_id,
            extra=log,
        )
        return None
    log["attempt"] = claim.attempt
    # Workers keep Django's connection across jobs (CELERY_DB_REUSE_MAX). When the ledger's
    # connection had to reconnect, PostgreSQL went away and Django's is broken too: drop it so
    # the job opens a working one. (close_old_connections() would cost a health-check
    # round trip on every job.)
    if this_process.seen_generation != workerdb.generation():
        this_process.seen_generation = workerdb.generation()
        connection.close()
    # One INFO line per run (at its end) keeps logging off the hot path; starts are DEBUG.
    logger.debug("job.start class=%s id=%s attempt=%d", task.name, job_id, claim.attempt, extra=log)
    started = time.monotonic()
    try:
        value = task.run(*args, **kwargs)
        result = task_result(task, request, args, kwargs, states.SUCCESS, value)
        outcomes.add(writes.Outcome(job_id, claim.attempt, State.FINISHED, result))
    except Exception as exc:  # the job's error, or ours between its run and its outcome
        log["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
        outcome = _record_error(task, request, args, kwargs, claim, exc, log)
        if outcome.state == State.FAILED:
            raise  # a failure: Celery and Flower show it as one
        # A retry or a discard: told to Celery as one, not as a success (task_events).
        raise task_events.ending(outcome, exc) from exc
    log["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
    logger.info(
        "job.finish class=%s id=%s attempt=%d duration_ms=%.1f",
        task.name,
        job_id,
        claim.attempt,
        log["duration_ms"],
        extra=log,
    )
    return value


def record_revoked(request: Context, *, terminated: bool, expired: bool) -> None:
    """Celery dropped a revoked (or expired) message, or killed a revoked job's run: the job
    is discarded, reason `revoked` (`expired`). In the worker's main process (its
    `task_revoked` signal). Should PostgreSQL refuse, the job stays ready: the dispatcher
    publishes it again and this worker, which keeps the revoke, drops it and tries again."""
    job_id = str(request.id)
    reason = "expired" if expired else "revoked"
    try:
        close_old_connections()  # this thread's connection may predate a PostgreSQL restart
        discarded = writes.discard_revoked(
            [job_id], reason=reason, terminated_on=(request.hostname or "") if terminated else ""
        )
    except Exception as error:
        logger.warning(
            "job.revoke_unrecorded id=%s %s: %s (the next drop of its message tries again)",
            job_id,
            type(error).__name__,
            error,
        )
        return
    if discarded:
        logger.info(
            "job.revoked id=%s%s: discarded, reason %s",
            job_id,
            " (its run terminated)" if terminated else "",
            reason,
        )


def _record_error(
    task: ApplicationJob,
    request: Context,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    claim: writes.Claim,
    exc: Exception,
    log: dict[str, object],
) -> writes.Outcome:
    """Record a run that raised, at once (kept for later while PostgreSQL is away); returns
    the outcome. Whatever fails here, the job still gets an outcome: it must never stay
    claimed by a live process, which nothing would recover."""
    # PostgreSQL text cannot hold NUL, which an exception message may carry (user input).
    error_class, message, trace = (
        text.replace("\x00", "\ufffd")
        for text in (type(exc).__name__, str(exc), traceback.format_exc())
    )
    error = (error_class, message, trace)
    job_id, attempt, retry_at = str(request.id), claim.attempt, None
    status: str
    if database_outage(exc):
        connection.close()  # broken: the next job in this process opens a new one
    try:
        if isinstance(exc, task.discard_on) and not isinstance(exc, task.retry_on):
            state, status = State.DISCARDED, states.REJECTED
        elif (isinstance(exc, task.retry_on) or database_outage(exc)) and (
            attempt < claim.max_attempts
        ):
            state, status = State.SCHEDULED, states.RETRY
            delay = task.retry_delay(attempt, rand=random.random())
            retry_at = timezone.now() + timedelta(seconds=delay)
        else:
            state, status = State.FAILED, states.FAILURE
        result = task_result(task, request, args, kwargs, status, exc, error[2])
    except Exception:  # a broken retry policy or an exception its backend cannot encode
        logger.exception("job.error_unrecordable class=%s id=%s: failing it", task.name, job_id)
        state, status, retry_at = State.FAILED, states.FAILURE, None
        result = writes.TaskResultColumns(
            task_name=task.name,
            task_args=None,
            task_kwargs=None,
            status=status,
            worker=request.hostname,
            content_type="application/json",
            content_encoding="utf-8",
            result=None,
            traceback=error[2],
            meta=None,
            periodic_task_name=None,
        )
    outcome = writes.Outcome(job_id, attempt, state, result, error, retry_at)
    outcomes.add(outcome, now=True)
    if state == State.DISCARDED:
        logger.warning(
            "job.discard class=%s id=%s reason=%s: %s", task.name, job_id, error[0], exc, extra=log
        )
    elif state == State.SCHEDULED:
        logger.warning(
            "job.retry class=%s id=%s attempt=%d/%d in=%.1fs error=%s: %s",
            task.name,
            job_id,
            attempt,
            claim.max_attempts,
            delay,
            error[0],
            exc,
            extra=log,
        )
    else:
        logger.error(
            "job.fail class=%s id=%s attempt=%d/%d error=%s: %s",
            task.name,
            job_id,
            attempt,
            claim.max_attempts,
            error[0],
            exc,
            extra=log,
        )
    return outcome


# SQLSTATE classes of errors that pass: connection exceptions, deadlocks and serialization
# failures, and the server shutting down or starting (57P01-57P03).
_TRANSIENT_SQLSTATES = ("08", "40", "57P")


def database_outage(exc: BaseException) -> bool:
    """Whether a job's error came from PostgreSQL being away (restarting, failing over) or a
    transient conflict: every job retries it, whatever its retry_on, with its back-off."""
    error = exc.__cause__ if isinstance(exc, DatabaseError) else exc
    if not isinstance(error, OUTAGE):
        return False
    return error.sqlstate is None or error.sqlstate.startswith(_TRANSIENT_SQLSTATES)


def task_result(
    task: ApplicationJob,
    request: Context,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    status: str,
    value: object,
    tb: str | None = None,
) -> writes.TaskResultColumns:
    """The django-celery-results columns, encoded as its database backend encodes them."""
    backend = cast(_ResultEncoder, task.backend)  # CELERY_RESULT_BACKEND = "django-db"
    if isinstance(value, BaseException):
        value = backend.prepare_exception(value)
    try:
        content_type, encoding, encoded = backend.encode_content(value)
    except Exception:  # a return value JSON cannot hold: keep its repr rather than fail the job
        content_type, encoding, encoded = backend.encode_content(repr(value))
    # A message sent without Celery's argsrepr/kwargsrepr headers has neither.
    args_repr = getattr(request, "argsrepr", None) or repr(tuple(args))
    kwargs_repr = getattr(request, "kwargsrepr", None) or repr(kwargs)
    return {
        "task_name": task.name,
        "task_args": backend.encode_content(args_repr)[2],
        "task_kwargs": backend.encode_content(kwargs_repr)[2],
        "status": status,
        "worker": request.hostname,
        "content_type": content_type,
        "content_encoding": encoding,
        "result": encoded,
        "traceback": tb,
        "meta": backend.encode_content({"children": []})[2],
        "periodic_task_name": getattr(request, "periodic_task_name", None),
    }


class _ResultEncoder(Protocol):
    """What task_result uses of django-celery-results' DatabaseBackend, which has no types
    (celery-types' Backend has no encode_content)."""

    def prepare_exception(self, exc: BaseException) -> object: ...

    # (content type, content encoding, content: base64 bytes for a binary serializer)
    def encode_content(self, data: object) -> tuple[str, str, str | bytes]: ...
