"""Celery beat's scheduler for this project: django-celery-beat's DatabaseScheduler, one at a time.

A second beat started by mistake (two deploys, a restarted container whose old one lingers)
must not send every periodic job twice. The beat that holds a PostgreSQL advisory lock on
its own connection is the leader and ticks; any other waits as a standby and takes over
within seconds when the leader's connection goes (its lock is released with it). Each tick
of the leader is its heartbeat in jobs.Process, so "beat not ticking" is visible in
/metrics and `jobs processes`. While PostgreSQL is unreachable beat sends nothing and keeps
ticking, instead of exiting.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Literal

import django.db
import psycopg
from django.conf import settings
from django_celery_beat.schedulers import DatabaseScheduler
from psycopg.rows import TupleRow

from jobs.worker import processes, workerdb

logger = logging.getLogger("jobs.scheduler")

BEAT_LOCK_KEY = 0x6E616A61  # any constant unique among this database's advisory locks
STANDBY_RECHECK_SECONDS = 2.0


# django-celery-beat ships no types (pyproject.toml): its DatabaseScheduler is Any to mypy.
class LockedDatabaseScheduler(DatabaseScheduler):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # The connection holding the lock (leader); False once standby was logged.
        self._lock_conn: psycopg.Connection[TupleRow] | Literal[False] | None = None
        self._last_heartbeat = 0.0
        super().__init__(*args, **kwargs)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        try:
            if not self._hold_lock():
                return STANDBY_RECHECK_SECONDS
            self._heartbeat()
            interval: float = super().tick(*args, **kwargs)
            return interval
        except (django.db.Error, psycopg.Error) as error:
            # PostgreSQL away (a restart, a failover): send nothing rather than risk a double,
            # and keep ticking. Celery beat would exit on the error and wait for a process
            # manager; the schedule and the lock come back with the database.
            logger.warning(
                "beat.database_unavailable %s: %s; trying again in %.0f s",
                type(error).__name__,
                error,
                STANDBY_RECHECK_SECONDS,
            )
            django.db.close_old_connections()
            return STANDBY_RECHECK_SECONDS

    def _hold_lock(self) -> bool:
        conn = workerdb.connection()
        if self._lock_conn is conn:
            return True  # a session lock lasts as long as the connection that took it
        row = workerdb.fetchone("SELECT pg_try_advisory_lock(%s)", [BEAT_LOCK_KEY])
        assert row is not None  # a SELECT without FROM returns one row
        acquired: bool = row[0]
        if acquired:
            self._lock_conn = conn
            logger.info("beat.leader: this beat sends the periodic jobs")
        elif self._lock_conn is not False:
            self._lock_conn = False
            logger.warning("beat.standby: another beat holds the lock; waiting to take over")
        return acquired

    def _heartbeat(self) -> None:
        now = time.monotonic()
        if now - self._last_heartbeat >= settings.JOBS_HEARTBEAT_INTERVAL:
            processes.heartbeat()
            self._last_heartbeat = now
