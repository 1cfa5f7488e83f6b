"""Shared helpers for the job-layer tests: the Redis side of a queue, and waiting."""

import time
from datetime import timedelta
from types import SimpleNamespace

import redis
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from jobs.ledger import writes
from jobs.models import Job, State
from jobs.worker import workerdb
from jobs.worker.execution import task_result
from tests.jobs.sample_jobs import RecordJob

PRIORITY_SEP = "\x06\x16"  # kombu's Redis transport keeps one list per priority step


def queued_messages(queue: str = "default", url: str | None = None) -> int:
    client = redis.Redis.from_url(url or settings.REDIS_URL)
    keys = [queue] + [f"{queue}{PRIORITY_SEP}{step}" for step in range(1, 10)]
    return sum(client.llen(key) for key in keys)


def wait_for(predicate, *, timeout: float = 30, message: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


def wait_for_state(job_id, *states: str, timeout: float = 30) -> Job:
    def reached() -> bool:
        return Job.objects.filter(pk=job_id, state__in=states).exists()

    try:
        wait_for(reached, timeout=timeout, message=f"job {job_id} to be {'/'.join(states)}")
    except AssertionError as timed_out:
        job = Job.objects.filter(pk=job_id).first()
        found = "no such job" if job is None else f"it is {job.state}, attempt {job.attempts}"
        if job is not None and job.error_class:
            found += f", last error {job.error_class}: {job.error_message}"
        raise AssertionError(f"{timed_out} ({found})") from None
    return Job.objects.get(pk=job_id)


def claim(
    job_id: str, *, class_name: str = "RecordJob", args: list | None = None
) -> writes.Claim | None:
    """A worker's claim of the job (ready → claimed), made here on the worker's connection."""
    try:
        return writes.claim(
            job_id=job_id,
            class_name=class_name,
            queue="default",
            priority=0,
            args=args or [],
            kwargs={},
            worker="test",
            process_id=None,
            max_attempts=5,
        )
    finally:
        workerdb.close()


def claim_run(job_id, class_name: str = "RecordJob") -> int:
    """A worker's claim (ready → claimed) on the worker's connection; the attempt it counts."""
    claimed = claim(str(job_id), class_name=class_name)
    assert claimed is not None, f"job {job_id} was not ready"
    return claimed.attempt


def end(job_id, attempt: int, state: State, *, error=("", "", "")) -> None:
    """The run's outcome, written as a worker writes it (writes.conclude)."""
    request = SimpleNamespace(argsrepr=None, kwargsrepr=None, hostname="test")
    status = "SUCCESS" if state == State.FINISHED else "FAILURE"
    result = task_result(RecordJob, request, (), {}, status, {"state": str(state)})
    retry_at = timezone.now() - timedelta(seconds=1) if state == State.SCHEDULED else None
    outcome = writes.Outcome(str(job_id), attempt, state, result, error, retry_at)
    try:
        assert writes.conclude([outcome]) == 1
    finally:
        workerdb.close()


def promote() -> None:
    """The dispatcher's tick: due retries ready again (their messages are not needed here)."""
    with transaction.atomic():
        writes.promote_due()
