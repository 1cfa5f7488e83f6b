"""Process registry: every worker, pool process, dispatcher and beat heartbeats in jobs.Process.

    worker (celery main process)  registers when ready; heartbeats; drops the rows of pool
                                  processes that died; applies queue pauses to its consumer
    fork   (prefork pool process) registers at start; heartbeats from a thread while it runs
                                  jobs; a claimed job records the fork's row id
    dispatcher, beat              register and heartbeat from their loops

A row is deleted on graceful exit. A process killed without one stops heartbeating; the
dispatcher (jobs.ledger.recovery) then re-enqueues its claimed jobs and deletes the row.

Heartbeats use the process's own connection (jobs.worker.workerdb), opened after the fork.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading

from celery import signals
from django.conf import settings

from jobs.worker import workerdb

logger = logging.getLogger("jobs.processes")

_state: dict = {"id": None, "pid": None, "kind": None, "thread": None}
_lock = threading.Lock()  # a heartbeat and the deregistration never interleave


def _new_lock() -> None:
    global _lock
    _lock = threading.Lock()  # a fork may copy it held by the parent's heartbeat thread


os.register_at_fork(after_in_child=_new_lock)


def register(*, kind: str, name: str, queues: list[str] | None = None) -> int:
    """Insert (or take over) this process's row; returns its id."""
    row = workerdb.fetchone(
        """
        INSERT INTO jobs_process (kind, name, hostname, pid, supervisor_pid, queues,
            started_at, last_heartbeat_at)
        VALUES (%s, %s, %s, %s, %s, %s, now(), now())
        ON CONFLICT (hostname, pid) DO UPDATE SET kind = EXCLUDED.kind, name = EXCLUDED.name,
            supervisor_pid = EXCLUDED.supervisor_pid, queues = EXCLUDED.queues,
            started_at = now(), last_heartbeat_at = now()
        RETURNING id
        """,
        [kind, name, socket.gethostname(), os.getpid(),
         os.getppid() if kind == "fork" else None, json.dumps(queues or [])],
    )  # fmt: skip
    _state.update(id=row[0], pid=os.getpid(), kind=kind, name=name, queues=queues or [])
    logger.info("process.register kind=%s name=%s pid=%d id=%d", kind, name, os.getpid(), row[0])
    return row[0]


def current_id() -> int | None:
    """This process's row id, registering it on first use (a solo or threads pool)."""
    if _state["pid"] != os.getpid():
        register(kind="fork", name=f"pool@{socket.gethostname()}")
    return _state["id"]


def heartbeat() -> None:
    """Mark this process alive; re-register if the dispatcher took it for dead."""
    row = workerdb.fetchone(
        "UPDATE jobs_process SET last_heartbeat_at = now() WHERE id = %s RETURNING id",
        [_state["id"]],
    )
    if row is None:
        logger.warning("process.heartbeat row gone (taken for dead): registering again")
        register(kind=_state["kind"], name=_state["name"], queues=_state["queues"])


def deregister() -> None:
    if _state["pid"] != os.getpid() or _state["id"] is None:
        return
    with _lock:
        if _state["thread"] is not None:
            _state["thread"].set()  # no later heartbeat may register the row again
        try:
            workerdb.fetchone("DELETE FROM jobs_process WHERE id = %s RETURNING id", [_state["id"]])
        except Exception as error:  # the dispatcher will drop the row once it goes stale
            logger.warning("process.deregister failed: %s", error)
        _state.update(id=None, pid=None)


def start_heartbeat(extra=None) -> threading.Event:
    """Heartbeat from a daemon thread every JOBS_HEARTBEAT_INTERVAL; `extra` runs each beat."""
    stopping = threading.Event()

    def beat() -> None:
        while not stopping.wait(settings.JOBS_HEARTBEAT_INTERVAL):
            try:
                with _lock:
                    if stopping.is_set():
                        return
                    heartbeat()
                if extra is not None:
                    extra()
            except Exception as error:  # PostgreSQL away: try again next beat
                logger.warning("process.heartbeat failed %s: %s", type(error).__name__, error)

    thread = threading.Thread(target=beat, name="jobs-heartbeat", daemon=True)
    thread.start()
    _state["thread"] = stopping
    return stopping


# --- Celery worker hooks ---------------------------------------------------------------------


@signals.worker_process_init.connect
def _fork_started(**_kwargs) -> None:
    register(kind="fork", name=f"pool@{socket.gethostname()}")
    start_heartbeat()


@signals.worker_process_shutdown.connect
def _fork_stopped(**_kwargs) -> None:
    from jobs.worker.execution import outcomes

    outcomes.flush()  # before the row goes: its claimed jobs must not look orphaned
    deregister()


@signals.worker_ready.connect
def _worker_ready(sender, **_kwargs) -> None:
    """The main process, after its pool started: register, then heartbeat and supervise."""
    from jobs.ledger import pauses

    consumer = sender
    own_queues = sorted(q.name for q in consumer.task_consumer.queues)
    register(kind="worker", name=consumer.hostname, queues=own_queues)
    sync = pauses.ConsumerPauses(consumer.app, consumer.hostname, own_queues)
    sync()

    def supervise() -> None:
        _drop_dead_forks()
        sync()

    start_heartbeat(supervise)


@signals.worker_shutdown.connect
def _worker_stopped(**_kwargs) -> None:
    deregister()


@signals.beat_init.connect
def _beat_started(**_kwargs) -> None:
    """Beat heartbeats from its scheduler's ticks (jobs.worker.beat_scheduler), not a thread."""
    import atexit

    register(kind="beat", name=f"beat@{socket.gethostname()}")
    atexit.register(deregister)


def _drop_dead_forks() -> None:
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
