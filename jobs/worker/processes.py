"""Process registry: every worker, pool process, dispatcher and beat heartbeats in jobs.Process.

    worker (celery main process)  registers when ready; heartbeats; drops the rows of pool
                                  processes that died; applies queue pauses to its consumer;
                                  records in its row that it was told to quiet
    fork   (prefork pool process) registers at start; heartbeats from a thread while it runs
                                  jobs; a claimed job records the fork's row id
    dispatcher, beat              register and heartbeat from their loops

A row is deleted on graceful exit. A process killed without one stops heartbeating; the
dispatcher (jobs.ledger.recovery) then re-enqueues its claimed jobs and deletes the row.

Heartbeats use the process's own connection (jobs.worker.workerdb), opened after the fork.
This process's row and heartbeat are kept in jobs.worker.state; the Celery hooks that call
these functions are in jobs.worker.hooks.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from collections.abc import Callable

from celery import Celery
from django.conf import settings
from django.utils import timezone

from jobs.ledger import pauses
from jobs.worker import workerdb
from jobs.worker.state import this_process

logger = logging.getLogger("jobs.processes")
pauses_logger = logging.getLogger("jobs.queues")


def register(*, kind: str, name: str, queues: list[str] | None = None) -> int:
    """Insert (or take over) this process's row; returns its id."""
    row = workerdb.fetchone(
        """
        INSERT INTO jobs_process (kind, name, hostname, pid, supervisor_pid, queues,
            started_at, last_heartbeat_at, quiet_since)
        VALUES (%s, %s, %s, %s, %s, %s, now(), now(), %s)
        ON CONFLICT (hostname, pid) DO UPDATE SET kind = EXCLUDED.kind, name = EXCLUDED.name,
            supervisor_pid = EXCLUDED.supervisor_pid, queues = EXCLUDED.queues,
            started_at = now(), last_heartbeat_at = now(), quiet_since = EXCLUDED.quiet_since
        RETURNING id
        """,
        [
            kind,
            name,
            socket.gethostname(),
            os.getpid(),
            os.getppid() if kind == "fork" else None,
            json.dumps(queues or []),
            this_process.quiet_since if kind == "worker" else None,
        ],
    )
    assert row is not None  # INSERT … ON CONFLICT DO UPDATE … RETURNING returns the row
    process_id: int = row[0]
    this_process.process_id, this_process.pid = process_id, os.getpid()
    this_process.kind, this_process.name, this_process.queues = kind, name, queues or []
    logger.info(
        "process.register kind=%s name=%s pid=%d id=%d", kind, name, os.getpid(), process_id
    )
    return process_id


def current_id() -> int | None:
    """This process's row id, registering it on first use (a solo or threads pool)."""
    if this_process.pid != os.getpid():
        register(kind="fork", name=f"pool@{socket.gethostname()}")
    return this_process.process_id


def heartbeat() -> None:
    """Mark this process alive; re-register if the dispatcher took it for dead. A quiet
    worker's row says so again (mark_quiet's own write may have met PostgreSQL away)."""
    row = workerdb.fetchone(
        "UPDATE jobs_process SET last_heartbeat_at = now(), quiet_since = %s WHERE id = %s "
        "RETURNING id",
        [this_process.quiet_since, this_process.process_id],
    )
    if row is None:
        logger.warning("process.heartbeat row gone (taken for dead): registering again")
        register(kind=this_process.kind, name=this_process.name, queues=this_process.queues)


def mark_quiet() -> bool:
    """This worker takes no new job from now on (until it restarts); its row says so.
    False if it was quiet already."""
    if this_process.quiet_since is not None:
        return False
    this_process.quiet_since = timezone.now()
    logger.info("process.quiet name=%s: no new jobs from now on", this_process.name)
    try:
        workerdb.fetchone(
            "UPDATE jobs_process SET quiet_since = %s WHERE id = %s RETURNING id",
            [this_process.quiet_since, this_process.process_id],
        )
    except Exception as error:  # the next heartbeat writes it
        logger.warning("process.quiet not recorded yet %s: %s", type(error).__name__, error)
    return True


def deregister() -> None:
    if this_process.pid != os.getpid() or this_process.process_id is None:
        return
    with this_process.lock:
        if this_process.heartbeat_stopping is not None:
            this_process.heartbeat_stopping.set()  # no later heartbeat may register the row again
        try:
            workerdb.fetchone(
                "DELETE FROM jobs_process WHERE id = %s RETURNING id", [this_process.process_id]
            )
        except Exception as error:  # the dispatcher will drop the row once it goes stale
            logger.warning("process.deregister failed: %s", error)
        this_process.process_id, this_process.pid = None, None


def start_heartbeat(extra: Callable[[], object] | None = None) -> threading.Event:
    """Heartbeat from a daemon thread every JOBS_HEARTBEAT_INTERVAL; `extra` runs as often in
    a thread of its own. `extra` talks to Redis (a worker's pause check asks its consumers
    through the broker): a Redis that does not answer — its primary cut off before Sentinel
    promotes the replica — held the heartbeat back until the worker was taken for dead
    (bench/hosts.py --fault redis-failover). Both threads use this process's one workerdb
    connection; psycopg serialises its use."""
    stopping = threading.Event()

    def beat() -> None:
        while not stopping.wait(settings.JOBS_HEARTBEAT_INTERVAL):
            try:
                with this_process.lock:
                    if stopping.is_set():
                        return
                    heartbeat()
            except Exception as error:  # PostgreSQL away: try again next beat
                logger.warning("process.heartbeat failed %s: %s", type(error).__name__, error)

    def supervise(work: Callable[[], object]) -> None:
        while not stopping.wait(settings.JOBS_HEARTBEAT_INTERVAL):
            try:
                work()
            except Exception as error:  # PostgreSQL or Redis away: try again next time
                logger.warning("process.supervise failed %s: %s", type(error).__name__, error)

    threading.Thread(target=beat, name="jobs-heartbeat", daemon=True).start()
    if extra is not None:
        supervisor = threading.Thread(target=supervise, args=(extra,), daemon=True)
        supervisor.name = "jobs-supervise"
        supervisor.start()
    this_process.heartbeat_stopping = stopping
    return stopping


def drop_dead_forks() -> None:
    """Delete the rows of this worker's pool processes that died (killed, or out of memory),
    so that their claimed jobs are recovered at once rather than after the threshold."""
    rows = workerdb.fetchall(
        "SELECT id, pid FROM jobs_process WHERE hostname = %s AND supervisor_pid = %s",
        [socket.gethostname(), os.getpid()],
    )
    dead = [row_id for row_id, pid in rows if not _alive(pid)]
    if dead:
        workerdb.fetchone("DELETE FROM jobs_process WHERE id = ANY(%s) RETURNING id", [dead])
        logger.warning("process.fork_died count=%d: their jobs will be re-enqueued", len(dead))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A dead child not yet reaped by the pool is a zombie: dead for our purpose.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


class ConsumerPauses:
    """Keeps one worker's consumers in line with the pauses (run on each heartbeat). A quiet
    worker consumes from no queue: nothing to keep in line (jobs.worker.control)."""

    def __init__(self, app: Celery, hostname: str, queues: list[str]) -> None:
        self.app, self.hostname, self.queues = app, hostname, queues

    def __call__(self) -> None:
        if this_process.quiet_since is not None:
            return
        paused = pauses.read_paused()
        active = self._active()
        if active is None:
            return
        for queue in self.queues:
            if queue in paused and queue in active:
                self._control("cancel_consumer", queue)
            elif queue not in paused and queue not in active:
                self._control("add_consumer", queue)

    def _active(self) -> set[str] | None:
        replies = self.app.control.inspect(destination=[self.hostname], timeout=1).active_queues()
        if not replies or self.hostname not in replies:
            return None
        return {queue["name"] for queue in replies[self.hostname]}

    def _control(self, command: str, queue: str) -> None:
        pauses_logger.info("queues.%s queue=%s worker=%s", command, queue, self.hostname)
        getattr(self.app.control, command)(queue, destination=[self.hostname], reply=False)
