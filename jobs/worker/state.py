"""What one process of the job layer keeps between jobs, in one object: `this_process`.

A worker's pool process, a worker's main process, the dispatcher and beat each have one. Its
parts are used by jobs.worker.processes (the jobs.Process row and its heartbeat),
jobs.worker.workerdb (the process's own connection) and jobs.worker.execution (the pauses it
read last, and the connection generation it last checked Django's connection against). The
outcomes waiting to be written are jobs.worker.execution.outcomes. Every hook that changes it
from outside (Celery's signals, at-fork, atexit) is connected in jobs.worker.hooks.

A fork copies it: each part is checked against the pid it belongs to before use.
"""

from __future__ import annotations

import dataclasses
import threading
from datetime import datetime

import psycopg
from psycopg.rows import TupleRow


@dataclasses.dataclass(eq=False)
class ProcessState:
    # This process's jobs.Process row (jobs.worker.processes).
    pid: int | None = None  # the process the row belongs to; a fork's copy is not its own
    process_id: int | None = None
    kind: str = ""
    name: str = ""
    queues: list[str] = dataclasses.field(default_factory=list)
    heartbeat_stopping: threading.Event | None = None
    # A worker told to quiet (jobs.worker.control): it takes no new job until it restarts.
    quiet_since: datetime | None = None
    # A heartbeat and the deregistration never interleave.
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    # Its own connection for ledger statements (jobs.worker.workerdb).
    conn: psycopg.Connection[TupleRow] | None = None
    conn_pid: int | None = None
    generation: int = 0  # bumped on each (re)connect
    # Django's connection was last checked at this generation (jobs.worker.execution).
    seen_generation: int | None = None
    # The queue pauses, as last read, and when (time.monotonic; jobs.worker.execution).
    paused: frozenset[str] = frozenset()
    paused_read_at: float = 0.0

    def after_fork_in_child(self) -> None:
        """A fork may copy the lock held by the parent's heartbeat thread: a new one."""
        self.lock = threading.Lock()


this_process = ProcessState()
