"""What a worker does with a job message: claim, run, record the outcome.

    claim (ready → claimed, attempt counted; adopts messages with no ledger row)
    run
    finished | scheduled for a retry (retry_on) | discarded (discard_on) | failed

Each step is a statement in jobs.ledger made here, where its failure is seen: nothing is
written from Celery signal handlers, whose exceptions Celery logs and swallows.

Successful runs' outcomes are written in batches by a timer thread, every 100 ms or 500
jobs (`OutcomeBuffer`): one statement per batch costs ~0.3 ms a job against ~1.7 ms for one
each. A process that dies with outcomes unwritten leaves those jobs `claimed`, re-run like
the jobs of any dead worker (at-least-once). Failures, retries and discards are written at
once.
"""

from __future__ import annotations

import atexit
import logging
import random
import threading
import time
import traceback
from datetime import timedelta

from celery import signals, states
from django.db import close_old_connections
from django.utils import timezone

from jobs import ledger, processes, queues
from jobs.models import State

logger = logging.getLogger("jobs")


class OutcomeBuffer:
    def __init__(self, *, max_jobs: int = 500, max_delay: float = 0.1) -> None:
        self.max_jobs, self.max_delay = max_jobs, max_delay
        self.pending: list[ledger.Outcome] = []
        self.lock = threading.Lock()
        self.timer: threading.Timer | None = None

    def add(self, outcome: ledger.Outcome) -> None:
        with self.lock:
            self.pending.append(outcome)
            full = len(self.pending) >= self.max_jobs
            if not full and self.timer is None:
                self.timer = threading.Timer(self.max_delay, self.flush)
                self.timer.daemon = True
                self.timer.start()
        if full:
            self.flush()

    def flush(self, **_signal_kwargs) -> None:
        with self.lock:
            batch, self.pending = self.pending, []
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None
        if batch:
            try:
                ledger.conclude(batch)
            except Exception:
                logger.exception("job.outcomes_lost count=%d: left claimed", len(batch))


outcomes = OutcomeBuffer()
signals.worker_process_shutdown.connect(outcomes.flush, weak=False)
atexit.register(outcomes.flush)


def run_job(task, args: tuple, kwargs: dict):
    request = task.request
    job_id = request.id
    delivery = request.delivery_info or {}
    queue = delivery.get("routing_key") or task.queue
    if queues.is_paused(queue):
        queues.hand_back(job_id)
        logger.info("job.paused class=%s id=%s queue=%s: handed back", task.name, job_id, queue)
        return None
    claim = ledger.claim(
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
    log = {"job_class": task.name, "job_id": job_id, "queue": queue}
    if claim is None:
        logger.info(
            "job.skip class=%s id=%s: not ready (duplicate or already done)",
            task.name, job_id, extra=log,
        )  # fmt: skip
        return None
    log["attempt"] = claim.attempt
    # Workers keep Django's connection across jobs (CELERY_DB_REUSE_MAX); drop it here if it
    # broke (PostgreSQL restarted) so the job gets a working one, as a request would.
    close_old_connections()
    # One INFO line per run (at its end) keeps logging off the hot path; starts are DEBUG.
    logger.debug("job.start class=%s id=%s attempt=%d", task.name, job_id, claim.attempt, extra=log)
    started = time.monotonic()
    try:
        value = task.run(*args, **kwargs)
    except Exception as exc:
        log["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
        if _record_error(task, request, args, kwargs, claim, exc, log) == State.FAILED:
            raise  # a failure: Celery and Flower should show it as one
        return None
    result = task_result(task, request, args, kwargs, states.SUCCESS, value)
    outcomes.add(ledger.Outcome(job_id, claim.attempt, State.FINISHED, result))
    log["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
    logger.info(
        "job.finish class=%s id=%s attempt=%d duration_ms=%.1f",
        task.name, job_id, claim.attempt, log["duration_ms"], extra=log,
    )  # fmt: skip
    return value


def _record_error(task, request, args, kwargs, claim, exc: Exception, log: dict) -> State:
    """Record a run that raised, at once; returns the job's new state."""
    error = (type(exc).__name__, str(exc), traceback.format_exc())
    job_id, attempt, retry_at = request.id, claim.attempt, None
    if isinstance(exc, task.discard_on) and not isinstance(exc, task.retry_on):
        state, status = State.DISCARDED, states.REJECTED
    elif isinstance(exc, task.retry_on) and attempt < claim.max_attempts:
        state, status = State.SCHEDULED, states.RETRY
        delay = task.retry_delay(attempt, rand=random.random())
        retry_at = timezone.now() + timedelta(seconds=delay)
    else:
        state, status = State.FAILED, states.FAILURE
    result = task_result(task, request, args, kwargs, status, exc, error[2])
    ledger.conclude([ledger.Outcome(job_id, attempt, state, result, error, retry_at)])
    if state == State.DISCARDED:
        logger.warning(
            "job.discard class=%s id=%s reason=%s: %s", task.name, job_id, error[0], exc, extra=log
        )
    elif state == State.SCHEDULED:
        logger.warning(
            "job.retry class=%s id=%s attempt=%d/%d in=%.1fs error=%s: %s",
            task.name, job_id, attempt, claim.max_attempts, delay, error[0], exc, extra=log,
        )  # fmt: skip
    else:
        logger.error(
            "job.fail class=%s id=%s attempt=%d/%d error=%s: %s",
            task.name, job_id, attempt, claim.max_attempts, error[0], exc, extra=log,
        )  # fmt: skip
    return state


def task_result(task, request, args, kwargs, status: str, value, tb: str | None = None) -> dict:
    """The django-celery-results columns, encoded as its database backend encodes them."""
    backend = task.backend
    if isinstance(value, BaseException):
        value = backend.prepare_exception(value)
    try:
        content_type, encoding, encoded = backend.encode_content(value)
    except Exception:  # a return value JSON cannot hold: keep its repr rather than fail the job
        content_type, encoding, encoded = backend.encode_content(repr(value))
    return {
        "task_name": task.name,
        "task_args": backend.encode_content(request.argsrepr or repr(tuple(args)))[2],
        "task_kwargs": backend.encode_content(request.kwargsrepr or repr(kwargs))[2],
        "status": status,
        "worker": request.hostname,
        "content_type": content_type,
        "content_encoding": encoding,
        "result": encoded,
        "traceback": tb,
        "meta": backend.encode_content({"children": []})[2],
        "periodic_task_name": getattr(request, "periodic_task_name", None),
    }
