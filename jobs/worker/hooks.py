"""Where the job layer joins the life of Celery's processes and of the interpreter: every
signal, at-fork and atexit hook, connected once, by `connect()` (JobsConfig.ready).

    pool process starts      register it (jobs.Process), heartbeat from a thread
    pool process stops       write the outcomes waiting, then drop its row: its claimed
                             jobs must not look orphaned
    logging set up           LOG_LEVEL unless --loglevel was given, and the log file
      (worker, beat)         (jobs.worker.logs)
    worker ready             register the main process, heartbeat, supervise its pool
                             processes and apply the queue pauses to its consumers;
                             SIGHUP opens its log file again
    worker stops             drop its row
    beat starts              register beat; its row goes at exit (it heartbeats from its
                             scheduler's ticks, jobs.worker.beat_scheduler)
    task revoked             (worker main process: a revoked message dropped, or a revoked
                             run terminated) its job is discarded in the ledger
    fork (any)               the child gets its own heartbeat lock
    exit (any)               write the outcomes waiting
"""

from __future__ import annotations

import atexit
import functools
import os
import socket
from typing import Any

from celery import signals
from celery.app.task import Context

from jobs.worker import execution, logs, processes
from jobs.worker.execution import outcomes
from jobs.worker.state import this_process


@functools.cache
def connect() -> None:
    """Connect every hook; once per process however often it is called."""
    os.register_at_fork(after_in_child=this_process.after_fork_in_child)
    signals.after_setup_logger.connect(logs.after_setup_logger, weak=False)
    signals.after_setup_task_logger.connect(logs.after_setup_task_logger, weak=False)
    signals.worker_process_init.connect(pool_process_started, weak=False)
    signals.worker_process_shutdown.connect(pool_process_stopping, weak=False)
    signals.worker_ready.connect(worker_ready, weak=False)
    signals.worker_shutdown.connect(worker_stopping, weak=False)
    signals.beat_init.connect(beat_started, weak=False)
    signals.task_revoked.connect(task_revoked, weak=False)
    atexit.register(outcomes.flush)


def pool_process_started(**_kwargs: object) -> None:
    processes.register(kind="fork", name=f"pool@{socket.gethostname()}")
    processes.start_heartbeat()


def pool_process_stopping(**_kwargs: object) -> None:
    outcomes.flush()  # before the row goes: its claimed jobs must not look orphaned
    processes.deregister()


def worker_ready(sender: Any, **_kwargs: object) -> None:
    """The main process, after its pool started: register, then heartbeat and supervise."""
    consumer = sender
    own_queues = sorted(q.name for q in consumer.task_consumer.queues)
    processes.register(kind="worker", name=consumer.hostname, queues=own_queues)
    sync = processes.ConsumerPauses(consumer.app, consumer.hostname, own_queues)
    sync()

    def supervise() -> None:
        processes.drop_dead_forks()
        sync()

    processes.start_heartbeat(supervise)
    logs.reopen_on_sighup()


def worker_stopping(**_kwargs: object) -> None:
    processes.deregister()


def beat_started(**_kwargs: object) -> None:
    processes.register(kind="beat", name=f"beat@{socket.gethostname()}")
    atexit.register(processes.deregister)


def task_revoked(
    request: Context, terminated: bool = False, expired: bool = False, **_kwargs: object
) -> None:
    execution.record_revoked(request, terminated=bool(terminated), expired=bool(expired))
