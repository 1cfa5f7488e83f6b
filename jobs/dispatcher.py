"""The dispatcher: publishes due scheduled jobs, and every ready job whose message is missing.

Run as `python manage.py jobs dispatcher`, beside the workers and beat. Each pass:
- scheduled → ready when due (blocked instead, for a job with a concurrency key);
- blocked → ready where a concurrency key has a free slot;
- ready jobs never published (Redis was down at enqueue, or the process died between commit
  and publish);
- every few seconds, while jobs wait for a retry after an error their class can probe
  (`ApplicationJob.retry_probe`, e.g. the mail server down): the probe, and if it passes,
  those retries due now;
and, every few passes (jobs.ledger.recovery):
- claimed jobs of dead processes → ready again (or failed after their last attempt);
- Redis restarted empty or flushed → every ready job published again;
- ready jobs whose messages `celery purge` took out → discarded;
- ready jobs of a queue that is empty in Redis, published long ago → published again.
Meanwhile a thread hears Celery's revoke broadcasts and discards the revoked jobs not
running yet (jobs.revokes).

Several dispatchers can run: rows are taken with FOR UPDATE SKIP LOCKED and published before
the transaction commits, so no job is published by two of them. Redis only ever holds jobs
that are due.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
import time
from pathlib import Path
from typing import cast

from django.conf import settings
from django.db import close_old_connections, transaction
from kombu.transport import redis

from config.celery import app
from jobs.base import ApplicationJob, publish
from jobs.ledger import concurrency, recovery, stats, writes
from jobs.ledger.pauses import paused_queues
from jobs.revokes import RevokeListener
from jobs.worker import processes
from jobs.worker.execution import database_outage

logger = logging.getLogger("jobs.dispatcher")

# A request publishes right after its commit; only a job still unpublished after this long
# is taken as lost (Redis was down, or the process died between commit and publish).
UNPUBLISHED_GRACE_SECONDS = 5.0
# Seconds between the recovery passes (orphans, lost messages), and between heartbeats.
RECOVERY_EVERY = 1.0
COMPACT_STATS_EVERY = 60.0  # jobs.ledger.stats: deltas folded about once a minute
# Seconds between retry probes (ApplicationJob.retry_probe), run only while retries wait.
RETRY_PROBE_EVERY = 3.0
MAX_BACKOFF = 2.0


class Dispatcher:
    def __init__(
        self, *, interval: float = 0.5, batch_size: int = 500, heartbeat_file: Path | None = None
    ) -> None:
        self.interval = interval
        self.batch_size = batch_size
        self.heartbeat_file = heartbeat_file
        self.stopping = threading.Event()
        self.last_recovery = 0.0
        self.last_compact = time.monotonic()
        self.last_heartbeat = 0.0
        self.last_probe = 0.0
        # When this dispatcher last failed to reach PostgreSQL, or started (time.monotonic):
        # orphans wait until every process has had the threshold to heartbeat since
        # (jobs.ledger.recovery.recover_orphans).
        self.database_lost_at = time.monotonic()
        # The job classes with a retry probe, found on first use.
        self.probed: list[ApplicationJob] | None = None

    def run(self) -> None:
        """Loop until SIGTERM/SIGINT; survives Redis and PostgreSQL outages."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stopping.set())
        logger.info("dispatcher.start interval=%.2fs batch=%d", self.interval, self.batch_size)
        revokes = RevokeListener(self.stopping)
        revokes.start()
        failures = 0
        registered = False
        while not self.stopping.is_set():
            if self.heartbeat_file:
                self.heartbeat_file.touch()  # for container health checks
            close_old_connections()  # reconnect after a PostgreSQL restart
            try:
                if not registered:
                    processes.register(kind="dispatcher", name=f"dispatcher@{socket.gethostname()}")
                    registered = True
                self.heartbeat()
                moved = self.tick()
                failures = 0
            except Exception as error:
                failures += 1
                moved = 0
                if database_outage(error):
                    self.database_lost_at = time.monotonic()
                logger.warning(
                    "dispatcher.error (%d in a row) %s: %s", failures, type(error).__name__, error
                )
            if moved < self.batch_size:  # a full batch means more is waiting: no sleep
                # Backs off while Redis or PostgreSQL is down, but at most 2 s: the jobs left
                # for it during an outage should go out within seconds of its end.
                self.stopping.wait(min(self.interval * (1 + failures), MAX_BACKOFF))
        revokes.join(timeout=2)
        processes.deregister()
        logger.info("dispatcher.stop")

    def heartbeat(self) -> None:
        """Mark this dispatcher alive in jobs.Process, every JOBS_HEARTBEAT_INTERVAL."""
        now = time.monotonic()
        if now - self.last_heartbeat >= settings.JOBS_HEARTBEAT_INTERVAL:
            processes.heartbeat()
            self.last_heartbeat = now

    def tick(self) -> int:
        """One pass; returns how many jobs were published."""
        published = {}
        now = time.monotonic()
        if now - self.last_recovery >= RECOVERY_EVERY:  # first: a lost Redis resets publishes
            self.last_recovery = now
            published.update(self.recover())
        if now - self.last_probe >= RETRY_PROBE_EVERY:  # before promoting: released are due
            self.last_probe = now
            self.probe_retries()
        if now - self.last_compact >= COMPACT_STATS_EVERY:
            self.last_compact = now
            removed, written = stats.compact()
            logger.debug("dispatcher.stats_compacted removed=%d written=%d", removed, written)
        with transaction.atomic():
            due = [job for job in writes.promote_due(limit=self.batch_size) if job.state == "ready"]
            publish(due)
        published["due"] = len(due)
        with transaction.atomic():
            released = concurrency.release_blocked()
            publish(released)
        published["unblocked"] = len(released)
        with transaction.atomic():
            lost = writes.mark_published_unsent(
                older_than_seconds=UNPUBLISHED_GRACE_SECONDS, limit=self.batch_size
            )
            publish(lost)
        published["unpublished"] = len(lost)
        if any(published.values()):
            logger.info(
                "dispatcher.published %s", " ".join(f"{k}={v}" for k, v in published.items())
            )
        return sum(published.values())

    def probe_retries(self) -> None:
        """Retries waiting on a cause their class can probe run now if the probe passes."""
        if self.probed is None:
            self.probed = probed_job_classes()
        for task in self.probed:
            # A probed class has a probe: the first test only narrows its type.
            if task.retry_probe is None or not writes.retries_waiting_on(
                task.name, task.retry_probe_errors
            ):
                continue
            try:
                passed = task.retry_probe()
            except Exception as error:
                logger.warning("dispatcher.retry_probe_error class=%s %s", task.name, error)
                continue
            if passed:
                count = writes.release_retries(task.name, task.retry_probe_errors)
                logger.info("dispatcher.retries_released class=%s count=%d", task.name, count)

    def recover(self) -> dict[str, int]:
        with transaction.atomic():
            orphans, failed = recovery.recover_orphans(
                limit=self.batch_size, reachable_for=time.monotonic() - self.database_lost_at
            )
            publish(orphans)
        if failed:
            logger.error("dispatcher.orphans_failed count=%d (out of attempts)", failed)
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=0)  # not kombu's 2 s of retries: next tick
            channel = cast(redis.Channel, conn.default_channel)  # the broker is Redis
            if recovery.check_broker_epoch(channel.client):
                reset = recovery.mark_all_ready_unpublished()
                if reset:
                    logger.warning(
                        "dispatcher.broker_lost_data: %d ready jobs will be published again", reset
                    )
            paused = paused_queues()
            empty = [
                queue
                for queue in settings.JOB_QUEUES
                if queue not in paused and channel.queue_declare(queue=queue).message_count == 0
            ]
            # After the emptiness check: a purge that emptied a queue has set its messages aside.
            purged = recovery.discard_purged(channel.client, limit=self.batch_size)
        if purged:
            logger.warning("dispatcher.purged: %d ready jobs discarded (celery purge)", purged)
        with transaction.atomic():
            lost = recovery.mark_published_lost(queues=empty, limit=self.batch_size)
            publish(lost)
        return {"orphans": len(orphans), "lost": len(lost)}


def probed_job_classes() -> list[ApplicationJob]:
    """The job classes with a retry probe (the dispatcher imports every app's jobs)."""
    app.loader.import_default_modules()
    return [
        task
        for task in app.tasks.values()
        if isinstance(task, ApplicationJob) and task.retry_probe is not None
    ]
