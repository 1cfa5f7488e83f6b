"""Pausing a queue: its jobs stay `ready` in the ledger and no worker starts them.

A pause is a jobs.QueuePause row, so it survives restarts and reaches every worker:
- `pause` also broadcasts `cancel_consumer` so that running workers stop taking messages at
  once; each worker re-reads the pauses on every heartbeat (and when it starts) and cancels or
  re-adds its consumers to match (jobs.worker.consumer.ConsumerPauses), so a missed
  broadcast is corrected within seconds;
- a message a worker had already taken before the pause is not run: `run_job` hands the job
  back (ready, unpublished), and the dispatcher publishes it again after `resume`.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction

from jobs.models import Process, QueuePause
from jobs.worker import workerdb

logger = logging.getLogger("jobs.queues")


def pause(queue: str) -> bool:
    """Pause a queue; False if it already was."""
    _check(queue)
    _, created = QueuePause.objects.get_or_create(queue=queue)
    transaction.on_commit(lambda: _broadcast("cancel_consumer", queue))
    return created


def resume(queue: str) -> bool:
    """Resume a queue; its jobs handed back while it was paused are published again."""
    _check(queue)
    deleted, _ = QueuePause.objects.filter(queue=queue).delete()
    transaction.on_commit(lambda: _broadcast("add_consumer", queue))
    return bool(deleted)


def paused_queues() -> set[str]:
    return set(QueuePause.objects.values_list("queue", flat=True))


def read_paused() -> frozenset[str]:
    """The pauses, read on the process's own connection (jobs.worker.workerdb): workers read them
    from their hot path and their heartbeat thread, outside Django's connection."""
    return frozenset(row[0] for row in workerdb.fetchall("SELECT queue FROM jobs_queuepause", []))


def _check(queue: str) -> None:
    if queue not in settings.JOB_QUEUES:
        raise ValueError(f"Unknown queue {queue!r}: use one of {', '.join(settings.JOB_QUEUES)}.")


def _broadcast(command: str, queue: str) -> None:
    """To the workers started with this queue (add_consumer must not widen a worker's -Q)."""
    from config.celery import app

    workers = [
        name
        for name, queues in Process.objects.filter(kind=Process.Kind.WORKER).values_list(
            "name", "queues"
        )
        if queue in queues
    ]
    if not workers:
        return
    try:
        getattr(app.control, command)(queue, destination=workers, reply=False)
    except Exception as error:  # workers also re-read pauses on every heartbeat
        logger.warning("queues.broadcast %s %s failed: %s", command, queue, error)
