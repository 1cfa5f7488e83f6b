"""What the dispatcher recovers: jobs of dead processes, and messages Redis no longer holds.

Solid Queue fails the jobs of a dead worker; Celery on Redis hides them for the visibility
timeout (an hour here). We re-run them: the compare-and-set claim makes a message that turns
up twice harmless. A message an operator purged is not lost: its job is discarded instead.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, cast

from django.conf import settings
from django.db import connection

from jobs.ledger import writes
from jobs.ledger.pauses import paused_queues
from jobs.models import Job
from jobs.worker.kombu_redis import PURGED_IDS_KEY, collect_purged_ids

if TYPE_CHECKING:
    from redis import Redis

logger = logging.getLogger("jobs.recovery")

BROKER_EPOCH_KEY = "jobs:broker-epoch"


def recover_orphans(
    *, limit: int = 500, reachable_for: float | None = None
) -> tuple[list[Job], int]:
    """Claimed jobs whose process is gone or silent beyond the threshold: re-enqueued with the
    attempt counted, or failed after their last attempt (a poison job must not loop).

    Returns the jobs made ready (publish them before the transaction commits) and how many
    failed. Dead process rows are deleted once their jobs are taken care of. Nothing is taken
    for dead within the threshold after PostgreSQL (re)started, nor while the caller has
    reached PostgreSQL for less than the threshold (`reachable_for`, seconds: the dispatcher's
    time since its start or its last database error): heartbeats could not land. The second
    covers a failover, where the new primary's server has been up for long.
    """
    threshold = settings.JOBS_PROCESS_ALIVE_THRESHOLD
    if reachable_for is not None and reachable_for < threshold:
        logger.info(
            "recovery.waiting PostgreSQL reached again (or this dispatcher started) %.1fs "
            "ago: processes get %ss to heartbeat",
            reachable_for,
            threshold,
        )
        return [], 0
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


def discard_purged(client: Redis, *, limit: int = 500) -> int:
    """Jobs whose messages `celery purge` took out (jobs.worker.kombu_redis): those still
    ready are discarded, reason `purged`. Returns how many.

    Call it after reading which queues are empty and before republishing their lost jobs: a
    purge that emptied a queue has put its messages aside by then (in the same script). An id
    leaves PURGED_IDS_KEY only after its discard committed, so a dispatcher that dies midway
    leaves it to the next; several dispatchers draining at once write each discard once (the
    write is a compare-and-set).
    """
    collect_purged_ids(client)
    discarded = 0
    while True:
        # SRANDMEMBER with a count: a list, of bytes (kombu's client does not decode).
        ids = [raw.decode() for raw in cast(list[bytes], client.srandmember(PURGED_IDS_KEY, limit))]
        if not ids:
            return discarded
        discarded += len(writes.discard_purged(ids))
        client.srem(PURGED_IDS_KEY, *ids)
        if len(ids) < limit:
            return discarded


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
