"""What the dispatcher recovers: jobs of dead processes, and messages Redis no longer holds.

Solid Queue fails the jobs of a dead worker; Celery on Redis hides them for the visibility
timeout (an hour here). We re-run them: the compare-and-set claim makes a message that turns
up twice harmless.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import connection

from jobs.ledger import writes
from jobs.ledger.pauses import paused_queues
from jobs.models import Job

if TYPE_CHECKING:
    from redis import Redis

logger = logging.getLogger("jobs.recovery")

BROKER_EPOCH_KEY = "jobs:broker-epoch"


def recover_orphans(*, limit: int = 500) -> tuple[list[Job], int]:
    """Claimed jobs whose process is gone or silent beyond the threshold: re-enqueued with the
    attempt counted, or failed after their last attempt (a poison job must not loop).

    Returns the jobs made ready (publish them before the transaction commits) and how many
    failed. Dead process rows are deleted once their jobs are taken care of. Nothing is taken
    for dead within the threshold after PostgreSQL (re)started: heartbeats could not land.
    """
    threshold = settings.JOBS_PROCESS_ALIVE_THRESHOLD
    restarted = server_restarted_within(threshold)
    if restarted is not None:
        # Every process's heartbeats stopped while the server was down: their silence says
        # nothing about them yet. Taking a live one for dead would run its jobs twice (an
        # email between its send and its `sent` mark goes out again).
        logger.info(
            "recovery.waiting PostgreSQL started %.1fs ago: processes get %ss to heartbeat",
            restarted,
            threshold,
        )
        return [], 0
    jobs = writes.requeue_orphans(alive_threshold=threshold, limit=limit)
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM jobs_process WHERE last_heartbeat_at < now() - make_interval(secs => %s)",
            [threshold],
        )
    ready = [job for job in jobs if job.state == "ready"]
    failed = len(jobs) - len(ready)
    for job in jobs:
        logger.warning(
            "recovery.orphan class=%s id=%s attempt=%d/%d worker=%s → %s",
            job.class_name,
            job.id,
            job.attempts,
            job.max_attempts,
            job.worker,
            job.state,
        )
    return ready, failed


def server_restarted_within(seconds: float) -> float | None:
    """How long ago PostgreSQL started, if less than `seconds` ago; else None."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT extract(epoch FROM now() - pg_postmaster_start_time())")
        row = cursor.fetchone()
    assert row is not None  # a SELECT without FROM returns one row
    uptime = float(row[0])
    return uptime if uptime < seconds else None


def check_broker_epoch(client: Redis) -> bool:
    """True when Redis lost its data (restarted empty, flushed, failed over) since the last
    check: our marker key is gone. Every ready job must then be published again."""
    return bool(client.set(BROKER_EPOCH_KEY, uuid.uuid4().hex, nx=True))


def mark_all_ready_unpublished() -> int:
    """Redis lost its messages: every ready job goes back to the unpublished sweep."""
    return writes.mark_all_ready_unpublished(except_queues=paused_queues())


def mark_published_lost(*, queues: list[str], limit: int = 500) -> list[Job]:
    """Ready jobs of queues that are empty in Redis, published longer ago than
    JOBS_REPUBLISH_AFTER: their message is gone (a worker took it and died before claiming
    it, or Redis lost it). Marked published now; the caller publishes before commit.

    A job still waiting in a live worker's prefetch buffer may be republished too: the
    duplicate message is skipped by the claim.
    """
    if not queues:
        return []
    return writes.mark_published_lost(
        queues=queues, older_than_seconds=settings.JOBS_REPUBLISH_AFTER, limit=limit
    )
