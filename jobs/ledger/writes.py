"""Every write to the job ledger, in SQL that checks the state it expects.

Workers, the dispatcher (publishing, recovery, concurrency), the enqueue path, queue pauses
and operator actions all change `jobs_job` here and nowhere else (tests/jobs/test_structure.py
checks it). Statements are few and set-based: a worker's claim of a ready job is one round
trip, and outcomes (ledger row + django-celery-results row) take one statement per batch, both
on the worker's own prepared-statement connection (jobs.worker.workerdb).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypedDict

from django.db import connection
from django.utils import timezone

from jobs.models import Job, JobQuerySet, State
from jobs.worker import workerdb

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
    args: list[Any]
    kwargs: dict[str, Any]
    state: State
    scheduled_at: datetime
    max_attempts: int
    concurrency_key: str = ""
    concurrency_limit: int = 0
    concurrency_duration: int = 0
    on_conflict: str = "block"
    error: str = ""  # why a job was discarded at enqueue


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
    row = "(%s, %s, %s, %s, %s, %s, %s, %s, %s, 0, '', %s, %s, %s, %s, %s, %s, %s, %s, '')"
    params: list[Any] = []
    for job in jobs:
        published = now if job.state == State.READY else None
        discarded = job.state == State.DISCARDED
        params += [
            job.id,
            job.class_name,
            job.queue,
            job.priority,
            json.dumps(job.args),
            json.dumps(job.kwargs),
            job.state,
            job.scheduled_at,
            job.max_attempts,
            job.concurrency_key,
            job.concurrency_limit,
            job.concurrency_duration,
            now,
            published,
            now if discarded else None,
            "ConcurrencyLimit" if discarded else "",
            job.error,
        ]
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO jobs_job (id, class_name, queue, priority, args, kwargs, state, "
            "scheduled_at, max_attempts, attempts, worker, concurrency_key, concurrency_limit, "
            "concurrency_duration, created_at, published_at, finished_at, error_class, "
            "error_message, error_traceback) VALUES " + ", ".join([row] * len(jobs)),
            params,
        )


def mark_unpublished(job_ids: Iterable[uuid.UUID]) -> None:
    """Redis did not take these jobs: leave them to the dispatcher."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE jobs_job SET published_at = NULL WHERE id = ANY(%s) AND state = 'ready'",
            [list(job_ids)],
        )


class TaskResultColumns(TypedDict):
    """A run's django-celery-results row, its columns encoded as that backend encodes them
    (bytes: base64, from a binary serializer)."""

    task_name: str
    task_args: str | bytes | None
    task_kwargs: str | bytes | None
    status: str
    worker: str | None
    content_type: str
    content_encoding: str
    result: str | bytes | None
    traceback: str | None
    meta: str | bytes | None
    periodic_task_name: str | None


@dataclass(frozen=True)
class Outcome:
    """How one run ended. `result` holds the TaskResult columns (jobs.worker.execution)."""

    job_id: str
    attempt: int
    state: State  # finished, failed, discarded, or scheduled (a retry)
    result: TaskResultColumns
    error: tuple[str, str, str] = ("", "", "")
    retry_at: datetime | None = None


OUTCOME_FIELDS = (
    "task_name",
    "task_args",
    "task_kwargs",
    "status",
    "worker",
    "content_type",
    "content_encoding",
    "result",
    "traceback",
    "meta",
    "periodic_task_name",
)

# Ends runs: each ledger row a run still owns (state claimed, same attempt) takes its new
# state and its TaskResult row is upserted; a run another has taken over writes nothing.
_CONCLUDE = f"""
    WITH o AS (
        SELECT * FROM unnest(%s::uuid[], %s::int[], %s::text[], %s::text[], %s::text[],
            %s::text[], %s::timestamptz[], %s::text[], %s::text[], %s::text[], %s::text[],
            %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[])
        AS o(id, attempt, state, error_class, error_message, error_traceback, retry_at,
             {", ".join(OUTCOME_FIELDS)})
    ), done AS (
        UPDATE jobs_job j SET state = o.state, error_class = o.error_class,
            error_message = o.error_message, error_traceback = o.error_traceback,
            finished_at = CASE WHEN o.state = 'scheduled' THEN NULL ELSE now() END,
            scheduled_at = coalesce(o.retry_at, j.scheduled_at),
            published_at = CASE WHEN o.state = 'scheduled' THEN NULL ELSE j.published_at END
        FROM o WHERE j.id = o.id AND j.state = 'claimed' AND j.attempts = o.attempt
        RETURNING j.id, j.attempts, j.created_at, j.claimed_at
    ), results AS (
        INSERT INTO django_celery_results_taskresult ({TASKRESULT_COLUMNS})
        SELECT o.id::text, o.task_name, o.task_args, o.task_kwargs, o.status, o.worker,
            o.content_type, o.content_encoding, o.result, done.created_at,
            done.claimed_at, now(), o.traceback, o.meta, o.periodic_task_name
        FROM done JOIN o ON o.id = done.id AND o.attempt = done.attempts
        ON CONFLICT (task_id) DO UPDATE SET
            status = EXCLUDED.status, result = EXCLUDED.result, worker = EXCLUDED.worker,
            date_started = EXCLUDED.date_started, date_done = EXCLUDED.date_done,
            traceback = EXCLUDED.traceback, meta = EXCLUDED.meta
        RETURNING 1
    )
"""


def conclude(outcomes: Sequence[Outcome]) -> int:
    """Record how runs ended, in one statement; returns how many were applied.

    The statement gets one outcome per job, its latest attempt's: PostgreSQL refuses a whole
    upsert that would touch a row twice, and an earlier attempt's outcome (held back while
    the job was recovered and run again) must not be written over the newer one.
    """
    columns = _outcome_columns(list(keep_latest({}, outcomes).values()))
    row = workerdb.fetchone(_CONCLUDE + "SELECT count(*) FROM results", columns)
    assert row is not None  # count(*) returns one row
    return int(row[0])


def keep_latest(kept: dict[str, Outcome], outcomes: Iterable[Outcome]) -> dict[str, Outcome]:
    """Add outcomes to `kept` (by job id), keeping each job's highest attempt; the later one
    wins among equals. Returns `kept`."""
    for outcome in outcomes:
        current = kept.get(outcome.job_id)
        if current is None or outcome.attempt >= current.attempt:
            kept[outcome.job_id] = outcome
    return kept


def release_unrecorded(outcome: Outcome, reason: str) -> str | None:
    """The last resort for an outcome PostgreSQL refuses even on its own: its job leaves
    `claimed` (which nothing would recover while its process lives) for `ready`, unpublished
    so the dispatcher sends it again, or `failed` when out of attempts; the reason is kept as
    its error. Returns the new state, or None when the run no longer owns the job."""
    row = workerdb.fetchone(
        """
        UPDATE jobs_job SET
            state = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'ready' END,
            finished_at = CASE WHEN attempts >= max_attempts THEN now() END,
            published_at = NULL, process_id = NULL, error_class = 'OutcomeNotRecorded',
            error_message = %s, error_traceback = ''
        WHERE id = %s AND state = 'claimed' AND attempts = %s
        RETURNING state
        """,
        [reason, uuid.UUID(outcome.job_id), outcome.attempt],
    )
    return str(row[0]) if row else None


def claim(
    *,
    job_id: str,
    class_name: str,
    queue: str,
    priority: int,
    args: list[Any],
    kwargs: dict[str, Any],
    worker: str,
    process_id: int | None,
    max_attempts: int,
) -> Claim | None:
    """ready → claimed, counting the attempt; None when the job is not ready.

    First a plain UPDATE of a `ready` row: the case of nearly every message, and the cheapest
    statement (it fires only the ledger's UPDATE trigger, and sends no arguments). It claims
    nothing in two cases, which the INSERT … ON CONFLICT DO UPDATE below then settles:
    - a message with no ledger row (sent by beat, `celery call` or Flower) is adopted: the row
      is created already claimed;
    - a message that outran the commit that made its job ready (the dispatcher publishes
      before it commits): an UPDATE skips a row whose committed version is not `ready`, but
      ON CONFLICT waits for the transaction holding the row and then checks the new version,
      so the job still runs.
    A duplicate message, or one for a job already done, costs both statements and claims
    nothing. (A `ready` row another transaction holds makes the UPDATE wait and recheck.)
    """
    row = workerdb.fetchone(_CLAIM_READY, [worker, process_id, job_id])
    if row is None:
        row = workerdb.fetchone(
            _CLAIM_OR_ADOPT,
            [
                job_id,
                class_name,
                queue,
                priority,
                json.dumps(args),
                json.dumps(kwargs),
                max_attempts,
                worker,
                process_id,
            ],
        )
    return Claim(*row) if row else None


_CLAIM_READY = """
    UPDATE jobs_job SET state = 'claimed', attempts = attempts + 1, worker = %s,
        process_id = %s, claimed_at = now()
    WHERE id = %s AND state = 'ready'
    RETURNING attempts, max_attempts, claimed_at
"""
_CLAIM_OR_ADOPT = """
    INSERT INTO jobs_job AS j (id, class_name, queue, priority, args, kwargs, state,
        scheduled_at, attempts, max_attempts, worker, process_id, concurrency_key,
        concurrency_limit, concurrency_duration, created_at, published_at, claimed_at,
        error_class, error_message, error_traceback)
    VALUES (%s, %s, %s, %s, %s, %s, 'claimed', now(), 1, %s, %s, %s, '', 0, 0, now(),
        now(), now(), '', '', '')
    ON CONFLICT (id) DO UPDATE
        SET state = 'claimed', attempts = j.attempts + 1, worker = EXCLUDED.worker,
            process_id = EXCLUDED.process_id, claimed_at = now()
        WHERE j.state = 'ready'
    RETURNING j.attempts, j.max_attempts, j.claimed_at
"""


def _outcome_columns(outcomes: Sequence[Outcome]) -> list[list[Any]]:
    results: list[Mapping[str, object]] = [o.result for o in outcomes]
    return [
        [uuid.UUID(o.job_id) for o in outcomes],
        [o.attempt for o in outcomes],
        [str(o.state) for o in outcomes],
        *([o.error[i] for o in outcomes] for i in range(3)),
        [o.retry_at for o in outcomes],
        *([result[field] for result in results] for field in OUTCOME_FIELDS),
    ]


def promote_due(*, limit: int = 500) -> list[Job]:
    """scheduled → ready for due jobs, locked so that concurrent dispatchers skip them; a job
    with a concurrency key goes to `blocked` and waits for a slot (jobs.ledger.concurrency).

    Call inside a transaction and publish the ready ones before it commits: a worker
    receiving the message early waits on the row lock, then sees `ready`.
    """
    return list(
        Job.objects.raw(
            """
            UPDATE jobs_job j
            SET state = CASE WHEN j.concurrency_key = '' THEN 'ready' ELSE 'blocked' END,
                published_at = CASE WHEN j.concurrency_key = '' THEN now() END
            FROM (SELECT id FROM jobs_job WHERE state = 'scheduled' AND scheduled_at <= now()
                  ORDER BY scheduled_at, priority LIMIT %s FOR UPDATE SKIP LOCKED) due
            WHERE j.id = due.id
            RETURNING j.*
            """,
            [limit],
        )
    )


def retries_waiting_on(class_name: str, error_classes: Sequence[str]) -> bool:
    """Whether jobs of this class wait for a retry after one of these errors."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT EXISTS (SELECT 1 FROM jobs_job WHERE {_WAITING_RETRY})",
            [class_name, list(error_classes)],
        )
        return bool(cursor.fetchone()[0])


def release_retries(class_name: str, error_classes: Sequence[str]) -> int:
    """Those retries are due now: the dispatcher's next promote publishes them."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE jobs_job SET scheduled_at = now() WHERE {_WAITING_RETRY}",
            [class_name, list(error_classes)],
        )
        return int(cursor.rowcount)


# Matches the partial index job_retry_idx: only the retries waiting, however many jobs wait.
_WAITING_RETRY = (
    "state = 'scheduled' AND attempts > 0 AND class_name = %s AND error_class = ANY(%s) "
    "AND scheduled_at > now()"
)


def mark_published_unsent(*, older_than_seconds: float, limit: int = 500) -> list[Job]:
    """Ready jobs whose publish did not happen (Redis was down, or the process died between
    commit and publish), marked published and locked until the caller's transaction ends."""
    return list(
        Job.objects.raw(
            """
            UPDATE jobs_job j SET published_at = now()
            FROM (SELECT id FROM jobs_job WHERE state = 'ready' AND published_at IS NULL
                    AND created_at < now() - make_interval(secs => %s)
                    AND queue NOT IN (SELECT queue FROM jobs_queuepause)
                  ORDER BY priority, created_at LIMIT %s FOR UPDATE SKIP LOCKED) lost
            WHERE j.id = lost.id
            RETURNING j.*
            """,
            [older_than_seconds, limit],
        )
    )


def mark_published_lost(
    *, queues: list[str], older_than_seconds: float, limit: int = 500
) -> list[Job]:
    """Ready jobs of these queues published longer ago than `older_than_seconds`, marked
    published again now and locked until the caller's transaction ends (jobs.ledger.recovery)."""
    return list(
        Job.objects.raw(
            """
            UPDATE jobs_job j SET published_at = now()
            FROM (SELECT id FROM jobs_job WHERE state = 'ready' AND queue = ANY(%s)
                    AND published_at < now() - make_interval(secs => %s)
                  ORDER BY priority, created_at LIMIT %s FOR UPDATE SKIP LOCKED) lost
            WHERE j.id = lost.id
            RETURNING j.*
            """,
            [queues, older_than_seconds, limit],
        )
    )


def mark_all_ready_unpublished(*, except_queues: Iterable[str]) -> int:
    """Redis lost its messages: every ready job (of a queue not paused) goes back to the
    unpublished sweep."""
    return (
        Job.objects.ready()
        .filter(published_at__isnull=False)
        .exclude(queue__in=list(except_queues))
        .update(published_at=None)
    )


def hand_back(job_id: str) -> None:
    """A worker took a message of a paused queue: the job stays ready, unpublished (on the
    worker's connection, jobs.worker.workerdb)."""
    workerdb.fetchone(
        "UPDATE jobs_job SET published_at = NULL WHERE id = %s AND state = 'ready' RETURNING id",
        [job_id],
    )


def requeue_orphans(*, alive_threshold: float, limit: int = 500) -> list[Job]:
    """Claimed jobs whose process is gone or silent beyond `alive_threshold` seconds: ready
    again (published now: the caller publishes before commit) with the attempt counted, or
    failed after their last attempt (a poison job must not loop)."""
    return list(
        Job.objects.raw(
            """
            UPDATE jobs_job j SET
                state = CASE WHEN j.attempts >= j.max_attempts THEN 'failed' ELSE 'ready' END,
                published_at = now(), process_id = NULL,
                finished_at = CASE WHEN j.attempts >= j.max_attempts THEN now() END,
                error_class = 'WorkerLostError', error_traceback = '',
                error_message = format('worker process died while running it (%%s on %%s), '
                                       'attempt %%s of %%s%%s', j.worker,
                                       coalesce(j.process_id::text, '?'), j.attempts,
                                       j.max_attempts, CASE WHEN j.attempts >= j.max_attempts
                                       THEN ': out of attempts' ELSE ': run again' END)
            FROM (SELECT c.id FROM jobs_job c
                  WHERE c.state = 'claimed' AND NOT EXISTS (
                      SELECT 1 FROM jobs_process p WHERE p.id = c.process_id
                        AND p.last_heartbeat_at > now() - make_interval(secs => %s))
                  ORDER BY c.claimed_at LIMIT %s FOR UPDATE SKIP LOCKED) orphan
            WHERE j.id = orphan.id
            RETURNING j.*
            """,
            [alive_threshold, limit],
        )
    )


def unblock(*, key: str, limit: int) -> list[Job]:
    """blocked → ready (published now) for up to `limit` jobs of a concurrency key, in
    release order (priority, then age); the caller holds the key's lock and publishes
    before commit (jobs.ledger.concurrency)."""
    return list(
        Job.objects.raw(
            """
            UPDATE jobs_job j SET state = 'ready', published_at = now()
            FROM (SELECT id FROM jobs_job WHERE state = 'blocked' AND concurrency_key = %s
                  ORDER BY priority, created_at LIMIT %s FOR UPDATE SKIP LOCKED) next
            WHERE j.id = next.id
            RETURNING j.*
            """,
            [key, limit],
        )
    )


# The states each operator action applies to; jobs in other states are left alone.
RETRYABLE = (State.FAILED, State.DISCARDED)
DISCARDABLE = (State.SCHEDULED, State.READY, State.BLOCKED, State.FAILED)
RUNNABLE_NOW = (State.SCHEDULED, State.BLOCKED)


def retry_jobs(jobs: JobQuerySet) -> int:
    """failed/discarded → scheduled now, with fresh attempts: the dispatcher's next tick
    (under a second) publishes them with their original arguments."""
    return jobs.filter(state__in=RETRYABLE).update(
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
    return jobs.filter(state__in=DISCARDABLE).update(
        state=State.DISCARDED,
        finished_at=timezone.now(),
        error_class="Discarded",
        error_message=reason,
    )


def discard_revoked(
    job_ids: Iterable[str], *, reason: str = "revoked", terminated_on: str = ""
) -> list[str]:
    """Celery's `revoke` (or `terminate`) reaches the ledger: jobs not running yet (scheduled,
    ready, blocked) are discarded with the reason, and a running one too when the worker
    `terminated_on` names (its hostname) has just killed its run. Finished, failed and
    discarded jobs stay as they are, and so does a job another worker runs: a worker dropping
    a duplicate message must not end a run it does not own.

    A compare-and-set, so workers and several dispatchers hearing the same revoke write it
    once. Returns the ids discarded.
    """
    return _discard_ids(
        job_ids, reason=reason, states=("scheduled", "ready", "blocked"), running_on=terminated_on
    )


def discard_purged(job_ids: Iterable[str]) -> list[str]:
    """`celery purge` deleted these jobs' messages (jobs.worker.kombu_redis): those still
    ready are discarded (reason `purged`) instead of published again. A job a worker already
    took, or one in any other state, stays as it is. Returns the ids discarded."""
    return _discard_ids(job_ids, reason="purged", states=("ready",))


def _discard_ids(
    job_ids: Iterable[str], *, reason: str, states: Sequence[str], running_on: str = ""
) -> list[str]:
    """Discard the jobs of these ids that are in one of `states` (or claimed by the worker
    `running_on` names, when it does), with the reason; returns the ids discarded."""
    ids = _uuids(job_ids)
    if not ids:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE jobs_job SET state = 'discarded', finished_at = now(),
                error_class = 'Discarded', error_message = %s, error_traceback = ''
            WHERE id = ANY(%s) AND (state = ANY(%s)
                OR (state = 'claimed' AND %s <> '' AND worker = %s))
            RETURNING id
            """,
            [reason, ids, list(states), running_on, running_on],
        )
        return [str(row[0]) for row in cursor.fetchall()]


def _uuids(values: Iterable[str]) -> list[uuid.UUID]:
    """The values that are job ids; a task id of another form names no ledger row."""
    ids = []
    for value in values:
        try:
            ids.append(uuid.UUID(str(value)))
        except ValueError:
            continue
    return ids


def run_jobs_now(jobs: JobQuerySet) -> int:
    """Scheduled → due now (the dispatcher publishes within a second); blocked → ready now,
    past its concurrency limit, as Mission Control's "Run now" does."""
    due = jobs.filter(state=State.SCHEDULED).update(scheduled_at=timezone.now())
    unblocked = jobs.filter(state=State.BLOCKED).update(state=State.READY, published_at=None)
    return due + unblocked


def prune(*, older_than: timedelta, batch_size: int = 1000) -> tuple[int, int]:
    """Delete finished and discarded jobs with their runs (jobs.JobAttempt), task results
    and beat's periodic-run records (jobs.PeriodicRun), done before `older_than` ago; returns
    how many jobs and task results.

    Batched, so a large backlog never holds long locks or one huge transaction. Failed jobs
    stay until an operator retries or discards them.
    """
    cutoff = timezone.now() - older_than
    totals = []
    for sql in (
        # Deleted jobs are counted in `pruned` (what prune took; `enqueued` is JobStat's sum).
        """WITH gone AS (DELETE FROM jobs_job WHERE id IN (SELECT id FROM jobs_job
               WHERE state IN ('finished', 'discarded') AND finished_at < %s LIMIT %s)
               RETURNING id, class_name, queue),
           runs AS (DELETE FROM jobs_jobattempt WHERE job_id IN (SELECT id FROM gone)
               RETURNING 1),
           counted AS (INSERT INTO jobs_jobmetric AS m (name, class_name, queue, le, value)
               SELECT 'pruned', class_name, queue, '', count(*) FROM gone
               GROUP BY 2, 3 ORDER BY 2, 3
               ON CONFLICT (name, class_name, queue, le)
               DO UPDATE SET value = m.value + EXCLUDED.value RETURNING 1)
           SELECT count(*) FROM gone""",
        """WITH gone AS (DELETE FROM django_celery_results_taskresult WHERE id IN (SELECT id
               FROM django_celery_results_taskresult WHERE date_done < %s
               AND status <> 'FAILURE' LIMIT %s) RETURNING 1)
           SELECT count(*) FROM gone""",
        # Beat's record of the periodic runs it sent (jobs.PeriodicRun): only the latest of
        # each task is ever asked for.
        """WITH gone AS (DELETE FROM jobs_periodicrun WHERE id IN (SELECT id
               FROM jobs_periodicrun WHERE sent_at < %s LIMIT %s) RETURNING 1)
           SELECT count(*) FROM gone""",
    ):
        total = 0
        while True:
            with connection.cursor() as cursor:
                cursor.execute(sql, [cutoff, batch_size])
                deleted = cursor.fetchone()[0]
            total += deleted
            if deleted < batch_size:
                break
        totals.append(total)
    return totals[0], totals[1]
