"""The workers' consumer: back on a lost Redis within a second of its return, and quiet for
good once told to be.

Celery's consumer reconnects through kombu's `ensure_connection` with its default back-off,
2, 4, 6 … 30 s apart: after a 30 s outage a worker tried again 12 s after Redis was back
(bench/faults.py --fault redis). Connecting to Redis is cheap, so here it is tried every
JOBS_BROKER_RETRY_INTERVAL seconds, for as long as the outage lasts (settings set
CELERY_BROKER_CONNECTION_MAX_RETRIES to None: at 1 s apart Celery's 100 would stop a worker
after two minutes). Selected by CELERY_WORKER_CONSUMER.

A quiet worker (jobs.worker.control) refuses every `add_consumer`: a queue resumed
(jobs.ledger.pauses broadcasts it), the heartbeat's pause sync or an operator's
`celery control add_consumer` must not wake it.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from celery.worker.consumer import Consumer as CeleryConsumer
from django.conf import settings
from kombu import Connection, Exchange, Queue

from jobs.worker.state import this_process

logger = logging.getLogger("jobs.queues")


class Consumer(CeleryConsumer):
    def ensure_connected(self, conn: Connection) -> Connection:
        interval = settings.JOBS_BROKER_RETRY_INTERVAL
        # This connection's own method, with our intervals bound (mypy refuses method writes).
        conn.ensure_connection = partial(  # type: ignore[method-assign]
            conn.ensure_connection,
            interval_start=interval,
            interval_step=interval,
            interval_max=interval,
        )
        return super().ensure_connected(conn)

    def add_task_queue(
        self,
        queue: str | Queue,
        exchange: str | Exchange | None = None,
        exchange_type: str | None = None,
        routing_key: str | None = None,
        **options: Any,
    ) -> Any:
        if this_process.quiet_since is not None:
            logger.info("queues.add_consumer queue=%s refused: this worker is quiet", queue)
            return None
        return super().add_task_queue(queue, exchange, exchange_type, routing_key, **options)
