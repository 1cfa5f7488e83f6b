"""Celery beat's scheduler for this project: django-celery-beat's DatabaseScheduler, one at a time.

A second beat started by mistake (two deploys, a restarted container whose old one lingers)
must not send every periodic job twice. The beat that holds a PostgreSQL advisory lock on
its own connection is the leader and ticks; any other waits as a standby and takes over
within seconds when the leader's connection goes (its lock is released with it).

A takeover neither doubles nor skips a run. The leader records an entry's `last_run_at` in
the transaction that enqueues its job (the ledger row; Redis gets it on commit), so the
database never says "not run" for a run that was sent, nor "run" for one that was not —
django-celery-beat alone writes it every 3 minutes, and a standby that took over would run
again what the dead leader had sent since. A beat that becomes leader reads the schedule
again before its first send: its own copy is as old as its start. And each send first takes
a jobs.PeriodicRun row named by the run it follows (unique, in the same transaction), so a
run is sent once even by a beat whose copy went stale or that wrongly believes it leads
(docs/RELIABILITY.md, finding 20). Each tick
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
from django.db import connection, transaction
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
        self._reread = False  # read the schedule from the database before the next send
        self._sending = False  # inside apply_entry's transaction
        super().__init__(*args, **kwargs)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        try:
            if not self._hold_lock():
                return STANDBY_RECHECK_SECONDS
            self._heartbeat()
            if self._reread:
                self._read_schedule()
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
            # What was in flight rolled back (apply_entry): the database's schedule is right,
            # this process's copy (and Celery's heap of it) may say a run was sent.
            self._reread = True
            return STANDBY_RECHECK_SECONDS

    def apply_entry(self, entry: Any, producer: Any = None) -> None:
        """Send a due entry and record its `last_run_at` in one transaction (see the module's
        docstring). Celery's own apply_entry logs a failed send and goes on; a database error
        here propagates to tick instead, which reads the schedule again: the run is still due
        in the database and is sent once PostgreSQL answers."""
        try:
            with transaction.atomic():
                self._sending = True
                if not self._first_send(entry):
                    return
                logger.info("Scheduler: Sending due task %s (%s)", entry.name, entry.task)
                self.apply_async(entry, producer=producer, advance=False)
                entry.save()  # django-celery-beat's ModelEntry: last_run_at, total_run_count
        except (django.db.Error, psycopg.Error):
            # Rolled back: the database still has the run due. The copy advanced in memory
            # (Celery's reserve) must not be written by a sync; tick reads the schedule again.
            self._dirty.discard(entry.name)
            raise
        except Exception:
            # As Celery: one entry that cannot be sent (unknown task, Redis down for a task
            # outside the ledger) must not stop beat; it waits for its next time.
            logger.exception("beat.send_failed %s (%s)", entry.name, entry.task)
        else:
            self._dirty.discard(entry.name)  # written above; sync() need not write it again
        finally:
            self._sending = False

    def _first_send(self, entry: Any) -> bool:
        """Take this run's jobs.PeriodicRun row, named by the run it follows (the entry's
        `last_run_at` before Celery's reserve advanced its model). Taken already: another
        send of the same run committed first — this process's copy of the schedule is stale,
        or another beat believes it leads — so send nothing, keep the copy's advance out of
        the database and read the schedule again."""
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO jobs_periodicrun (task, after, sent_at) VALUES (%s, %s, now()) "
                "ON CONFLICT (task, after) DO NOTHING RETURNING id",
                [entry.name, entry.last_run_at],
            )
            taken = cursor.fetchone() is not None
        if not taken:
            logger.warning(
                "beat.run_already_sent task=%s after=%s: this run was sent already; not "
                "sending it again, reading the schedule again",
                entry.name,
                entry.last_run_at.isoformat(),
            )
            self._dirty.discard(entry.name)
            self._reread = True
        return taken

    def should_sync(self) -> bool:
        # Celery's apply_async syncs when it is time; django-celery-beat's sync begins with
        # close_old_connections(), which closes a connection inside a transaction.
        return not self._sending and bool(super().should_sync())

    def _read_schedule(self) -> None:
        """Read every entry (and its last_run_at) from the database, as at start."""
        self.sync()  # a leader's own unsaved entries first (none when apply_entry wrote them)
        self._schedule = self.all_as_schedule()
        self._heap = None  # Celery's tick rebuilds its heap from the schedule just read
        self._reread = False

    def _hold_lock(self) -> bool:
        conn = workerdb.connection()
        if self._lock_conn is conn:
            return True  # a session lock lasts as long as the connection that took it
        row = workerdb.fetchone("SELECT pg_try_advisory_lock(%s)", [BEAT_LOCK_KEY])
        assert row is not None  # a SELECT without FROM returns one row
        acquired: bool = row[0]
        if acquired:
            self._lock_conn = conn
            self._reread = True  # its copy dates from its start; the last leader's since
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
