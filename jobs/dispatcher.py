"""The dispatcher: publishes due scheduled jobs, and ready jobs whose publish never happened.

Run as `python manage.py jobs dispatcher`, beside the workers and beat. Several can run: rows
are taken with FOR UPDATE SKIP LOCKED and published before the transaction commits, so no
job is published by two of them. Redis only ever holds jobs that are due.
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path

from django.db import close_old_connections, transaction

from jobs import ledger
from jobs.base import publish

logger = logging.getLogger("jobs.dispatcher")

# A request publishes right after its commit; only a job still unpublished after this long
# is taken as lost (Redis was down, or the process died between commit and publish).
UNPUBLISHED_GRACE_SECONDS = 5.0


class Dispatcher:
    def __init__(
        self, *, interval: float = 0.5, batch_size: int = 500, heartbeat_file: Path | None = None
    ) -> None:
        self.interval = interval
        self.batch_size = batch_size
        self.heartbeat_file = heartbeat_file
        self.stopping = threading.Event()

    def run(self) -> None:
        """Loop until SIGTERM/SIGINT; survives Redis and PostgreSQL outages."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stopping.set())
        logger.info("dispatcher.start interval=%.2fs batch=%d", self.interval, self.batch_size)
        failures = 0
        while not self.stopping.is_set():
            if self.heartbeat_file:
                self.heartbeat_file.touch()  # for container health checks
            close_old_connections()  # reconnect after a PostgreSQL restart
            try:
                moved = self.tick()
                failures = 0
            except Exception as error:
                failures += 1
                moved = 0
                logger.warning(
                    "dispatcher.error (%d in a row) %s: %s", failures, type(error).__name__, error
                )
            if moved < self.batch_size:  # a full batch means more is waiting: no sleep
                self.stopping.wait(min(self.interval * (1 + failures), 5.0))
        logger.info("dispatcher.stop")

    def tick(self) -> int:
        """One pass; returns how many jobs were published."""
        with transaction.atomic():
            due = ledger.promote_due(limit=self.batch_size)
            if due:
                publish(due)
        with transaction.atomic():
            lost = ledger.claim_unpublished(
                older_than_seconds=UNPUBLISHED_GRACE_SECONDS, limit=self.batch_size
            )
            if lost:
                publish(lost)
        if due or lost:
            logger.info("dispatcher.published due=%d unpublished=%d", len(due), len(lost))
        return len(due) + len(lost)
