"""The workers' consumer: back on a lost Redis within a second of its return.

Celery's consumer reconnects through kombu's `ensure_connection` with its default back-off,
2, 4, 6 … 30 s apart: after a 30 s outage a worker tried again 12 s after Redis was back
(bench/faults.py --fault redis). Connecting to Redis is cheap, so here it is tried every
JOBS_BROKER_RETRY_INTERVAL seconds, for as long as the outage lasts (settings set
CELERY_BROKER_CONNECTION_MAX_RETRIES to None: at 1 s apart Celery's 100 would stop a worker
after two minutes). Selected by CELERY_WORKER_CONSUMER.
"""

from __future__ import annotations

from functools import partial

from celery.worker.consumer import Consumer as CeleryConsumer
from django.conf import settings
from kombu import Connection


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
