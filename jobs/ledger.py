"""Every write to the job ledger, in SQL that checks the state it expects.

Workers, the dispatcher, the enqueue path and operator actions all change `jobs_job` here
and nowhere else. Statements are few and set-based: a worker's claim is one round trip, and
its outcome (ledger row + django-celery-results row) is one more, both on the worker's own
prepared-statement connection (jobs.workerdb).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection
from django.utils import timezone

from jobs import workerdb
from jobs.models import Job, JobQuerySet, State

TASKRESULT_COLUMNS = (
    "task_id, task_name, task_args, task_kwargs, status, worker, content_type, "
    "content_encoding, result, date_created, date_started, date_done, traceback, meta, "
    "periodic_task_name"
)


@dataclass(frozen=True)
class NewJob:
    id: uuid.UUID
    class_name: str
    queue: str
    priority: int
    args: list
    kwargs: dict
    state: State
    scheduled_at: datetime
    max_attempts: int


@dataclass(frozen=True)
class Claim:
    attempt: int
    max_attempts: int
    claimed_at: datetime


def insert(jobs: Sequence[NewJob]) -> None:
    """Write new ledger rows in one INSERT, inside the caller's transaction if any.

    A ready job is marked published up front: its publish follows the commit, and only a
    failed publish takes the mark back (`mark_unpublished`). That saves a write per job.
    """
    now = timezone.now()
    row = "(%s, %s, %s, %s, %s, %s, %s, %s, %s, 0, '', '', %s, %s, '', '', '')"
    params: list = []
    for job in jobs:
        published = now if job.state == State.READY else None
        params += [
            job.id, job.class_name, job.queue, job.priority, json.dumps(job.args),
            json.dumps(job.kwargs), job.state, job.scheduled_at, job.max_attempts, now, published,
        ]  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO jobs_job (id, class_name, queue, priority, args, kwargs, state, "
            "scheduled_at, max_attempts, attempts, worker, concurrency_key, created_at, "
            "published_at, error_class, error_message, error_traceback) VALUES "
            + ", ".join([row] * len(jobs)),
            params,
        )


def mark_unpublished(job_ids: Iterable[uuid.UUID]) -> None:
    """Redis did not take these jobs: leave them to the dispatcher."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE jobs_job SET published_at = NULL WHERE id = ANY(%s) AND state = 'ready'",
            [list(job_ids)],
        )


def claim(
    *,
    job_id: str,
    class_name: str,
    queue: str,
    priority: int,
    args: list,
    kwargs: dict,
    worker: str,
    max_attempts: int,
) -> Claim | None:
    """ready → claimed, counting the attempt; None when the job is not ready.

    A message with no ledger row (sent by beat, `celery call` or Flower) is adopted: the row
    is created already claimed. One statement either way.
    """
    row = workerdb.fetchone(
            """
            INSERT INTO jobs_job AS j (id, class_name, queue, priority, args, kwargs, state,
                scheduled_at, attempts, max_attempts, worker, concurrency_key, created_at,
                published_at, claimed_at, error_class, error_message, error_traceback)
            VALUES (%s, %s, %s, %s, %s, %s, 'claimed', now(), 1, %s, %s, '', now(), now(),
                now(), '', '', '')
            ON CONFLICT (id) DO UPDATE
                SET state = 'claimed', attempts = j.attempts + 1, worker = EXCLUDED.worker,
                    claimed_at = now()
                WHERE j.state = 'ready'
            RETURNING j.attempts, j.max_attempts, j.claimed_at
            """,
            [job_id, class_name, queue, priority, json.dumps(args), json.dumps(kwargs),
             max_attempts, worker],
    )  # fmt: skip
    return Claim(*row) if row else None


def finish(*, job_id: str, attempt: int, result: dict) -> bool:
    """claimed → finished, and the TaskResult row, in one statement."""
    return _conclude(job_id=job_id, attempt=attempt, state=State.FINISHED, result=result)


def fail(*, job_id: str, attempt: int, error: tuple[str, str, str], result: dict) -> bool:
    return _conclude(job_id=job_id, attempt=attempt, state=State.FAILED, error=error, result=result)


def discard(*, job_id: str, attempt: int, error: tuple[str, str, str], result: dict) -> bool:
    return _conclude(
        job_id=job_id, attempt=attempt, state=State.DISCARDED, error=error, result=result
    )


def schedule_retry(
    *, job_id: str, attempt: int, at: datetime, error: tuple[str, str, str], result: dict
) -> bool:
    """claimed → scheduled at `at`: the dispatcher publishes it when due (no ETA in Redis)."""
    return _conclude(
        job_id=job_id,
        attempt=attempt,
        state=State.SCHEDULED,
        error=error,
        result=result,
        scheduled_at=at,
    )


def _conclude(
    *,
    job_id: str,
    attempt: int,
    state: State,
    result: dict,
    error: tuple[str, str, str] = ("", "", ""),
    scheduled_at: datetime | None = None,
) -> bool:
    """End a run: update the ledger row if this run still owns it, and upsert its TaskResult.

    `result` holds the TaskResult columns (see jobs.execution.task_result). Nothing is
    written when another run has taken the job over (orphan recovery, operator action).
    """
    finished = state in (State.FINISHED, State.FAILED, State.DISCARDED)
    row = workerdb.fetchone(
            f"""
            WITH done AS (
                UPDATE jobs_job SET state = %s, error_class = %s, error_message = %s,
                    error_traceback = %s, finished_at = CASE WHEN %s THEN now() END,
                    scheduled_at = coalesce(%s, scheduled_at),
                    published_at = CASE WHEN %s THEN published_at END
                WHERE id = %s AND state = 'claimed' AND attempts = %s
                RETURNING id, created_at, claimed_at
            )
            INSERT INTO django_celery_results_taskresult ({TASKRESULT_COLUMNS})
            SELECT %s, %s, %s, %s, %s, %s, %s, %s, %s, done.created_at, done.claimed_at,
                now(), %s, %s, %s FROM done
            ON CONFLICT (task_id) DO UPDATE SET
                status = EXCLUDED.status, result = EXCLUDED.result, worker = EXCLUDED.worker,
                date_started = EXCLUDED.date_started, date_done = EXCLUDED.date_done,
                traceback = EXCLUDED.traceback, meta = EXCLUDED.meta
            RETURNING 1
            """,
            [
                state, *error, finished, scheduled_at, finished, job_id, attempt,
                job_id, result["task_name"], result["task_args"], result["task_kwargs"],
                result["status"], result["worker"], result["content_type"],
                result["content_encoding"], result["result"], result["traceback"],
                result["meta"], result["periodic_task_name"],
            ],
    )  # fmt: skip
    return row is not None


def promote_due(*, limit: int = 500) -> list[Job]:
    """scheduled → ready for due jobs, locked so that concurrent dispatchers skip them.

    Call inside a transaction and publish before it commits: a worker receiving the
    message early waits on the row lock, then sees `ready`.
    """
    return list(
        Job.objects.raw(
            """
            UPDATE jobs_job j SET state = 'ready', published_at = now()
            FROM (SELECT id FROM jobs_job WHERE state = 'scheduled' AND scheduled_at <= now()
                  ORDER BY scheduled_at, priority LIMIT %s FOR UPDATE SKIP LOCKED) due
            WHERE j.id = due.id
            RETURNING j.*
            """,
            [limit],
        )
    )


def claim_unpublished(*, older_than_seconds: float, limit: int = 500) -> list[Job]:
    """Ready jobs whose publish did not happen (Redis was down, or the process died between
    commit and publish), marked published and locked until the caller's transaction ends."""
    return list(
        Job.objects.raw(
            """
            UPDATE jobs_job j SET published_at = now()
            FROM (SELECT id FROM jobs_job WHERE state = 'ready' AND published_at IS NULL
                    AND created_at < now() - make_interval(secs => %s)
                  ORDER BY priority, created_at LIMIT %s FOR UPDATE SKIP LOCKED) lost
            WHERE j.id = lost.id
            RETURNING j.*
            """,
            [older_than_seconds, limit],
        )
    )


def retry_jobs(jobs: JobQuerySet) -> int:
    """failed/discarded → scheduled now, with fresh attempts: the dispatcher's next tick
    (under a second) publishes them with their original arguments."""
    return jobs.filter(state__in=[State.FAILED, State.DISCARDED]).update(
        state=State.SCHEDULED,
        attempts=0,
        scheduled_at=timezone.now(),
        published_at=None,
        finished_at=None,
        worker="",
        error_class="",
        error_message="",
        error_traceback="",
    )


def discard_jobs(jobs: JobQuerySet, *, reason: str) -> int:
    """Drop jobs that have not run to an end (scheduled, ready, blocked, failed)."""
    return jobs.filter(
        state__in=[State.SCHEDULED, State.READY, State.BLOCKED, State.FAILED]
    ).update(
        state=State.DISCARDED,
        finished_at=timezone.now(),
        error_class="Discarded",
        error_message=reason,
    )


def prune(*, older_than: timedelta, batch_size: int = 1000) -> tuple[int, int]:
    """Delete finished and discarded jobs, and task results, done before `older_than` ago.

    Batched, so a large backlog never holds long locks or one huge transaction. Failed jobs
    stay until an operator retries or discards them.
    """
    cutoff = timezone.now() - older_than
    totals = []
    for sql in (
        "DELETE FROM jobs_job WHERE id IN (SELECT id FROM jobs_job WHERE state IN "
        "('finished', 'discarded') AND finished_at < %s LIMIT %s)",
        "DELETE FROM django_celery_results_taskresult WHERE id IN (SELECT id FROM "
        "django_celery_results_taskresult WHERE date_done < %s AND status <> 'FAILURE' LIMIT %s)",
    ):
        total = 0
        while True:
            with connection.cursor() as cursor:
                cursor.execute(sql, [cutoff, batch_size])
                total += cursor.rowcount
            if cursor.rowcount < batch_size:
                break
        totals.append(total)
    return totals[0], totals[1]
