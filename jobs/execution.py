"""What a worker does with a job message: claim, run, record the outcome.

    claim (ready → claimed, attempt counted; adopts messages with no ledger row)
    run
    finished | scheduled for a retry (retry_on) | discarded (discard_on) | failed

Each step is one statement in jobs.ledger, made here where its failure is seen: nothing is
written from Celery signal handlers, whose exceptions Celery logs and swallows.
"""

from __future__ import annotations

import logging
import random
import time
import traceback
from datetime import timedelta

from celery import states
from django.utils import timezone

from jobs import ledger
from jobs.models import State

logger = logging.getLogger("jobs")


def run_job(task, args: tuple, kwargs: dict):
    request = task.request
    job_id = request.id
    delivery = request.delivery_info or {}
    claim = ledger.claim(
        job_id=job_id,
        class_name=task.name,
        queue=delivery.get("routing_key") or task.queue,
        priority=delivery.get("priority") or 0,
        args=list(args),
        kwargs=kwargs,
        worker=request.hostname or "",
        max_attempts=task.max_attempts,
    )
    log = {"job_class": task.name, "job_id": job_id}
    if claim is None:
        logger.info(
            "job.skip class=%s id=%s: not ready (duplicate or already done)",
            task.name,
            job_id,
            extra=log,
        )
        return None
    log["attempt"] = claim.attempt
    logger.info("job.start class=%s id=%s attempt=%d", task.name, job_id, claim.attempt, extra=log)
    started = time.monotonic()
    try:
        value = task.run(*args, **kwargs)
    except Exception as exc:
        if _record_error(task, request, args, kwargs, claim, exc, log) == State.FAILED:
            raise  # a failure: Celery and Flower should show it as one
        return None
    ledger.finish(
        job_id=job_id,
        attempt=claim.attempt,
        result=task_result(task, request, args, kwargs, states.SUCCESS, value),
    )
    logger.info(
        "job.finish class=%s id=%s attempt=%d duration_ms=%.1f",
        task.name, job_id, claim.attempt, (time.monotonic() - started) * 1000, extra=log,
    )  # fmt: skip
    return value


def _record_error(task, request, args, kwargs, claim, exc: Exception, log: dict) -> State:
    """Record a run that raised; returns the job's new state."""
    error = (type(exc).__name__, str(exc), traceback.format_exc())
    job_id, attempt = request.id, claim.attempt
    if isinstance(exc, task.discard_on) and not isinstance(exc, task.retry_on):
        result = task_result(task, request, args, kwargs, states.REJECTED, exc, error[2])
        ledger.discard(job_id=job_id, attempt=attempt, error=error, result=result)
        logger.warning(
            "job.discard class=%s id=%s reason=%s: %s", task.name, job_id, error[0], exc, extra=log
        )
        return State.DISCARDED
    if isinstance(exc, task.retry_on) and attempt < claim.max_attempts:
        delay = task.retry_delay(attempt, rand=random.random())
        at = timezone.now() + timedelta(seconds=delay)
        result = task_result(task, request, args, kwargs, states.RETRY, exc, error[2])
        ledger.schedule_retry(job_id=job_id, attempt=attempt, at=at, error=error, result=result)
        logger.warning(
            "job.retry class=%s id=%s attempt=%d/%d in=%.1fs error=%s: %s",
            task.name, job_id, attempt, claim.max_attempts, delay, error[0], exc, extra=log,
        )  # fmt: skip
        return State.SCHEDULED
    result = task_result(task, request, args, kwargs, states.FAILURE, exc, error[2])
    ledger.fail(job_id=job_id, attempt=attempt, error=error, result=result)
    logger.error(
        "job.fail class=%s id=%s attempt=%d/%d error=%s: %s",
        task.name, job_id, attempt, claim.max_attempts, error[0], exc, extra=log,
    )  # fmt: skip
    return State.FAILED


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
