"""What operators do to jobs, queues, recurring tasks and workers from admin and the jobs
dashboard.

Each action changes state through the ledger (jobs.ledger.writes, jobs.ledger.pauses), or
through a worker's remote control (jobs.ops.worker_control: quiet, stop), and writes
django.contrib.admin's LogEntry for every object it changed (in the ledger's transaction):
who, what, when, shown on that object's History page in admin. An action that changes
nothing records nothing. `how` says where it was done ("in the jobs dashboard"); it ends each
entry's message. The CLI (`manage.py jobs retry …`) acts as no user and records nothing here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth.models import AbstractBaseUser as User
from django.db import transaction
from django.db.models import Model, QuerySet
from django_celery_beat.models import PeriodicTask

from jobs.base import ApplicationJob
from jobs.ledger import pauses, writes
from jobs.models import Job, JobQuerySet, QueuePause, State
from jobs.ops import worker_control

# Jobs changed and recorded per statement in a bulk action: bounded statements however many
# jobs match.
BATCH = 1000


def retry(*, jobs: QuerySet[Job], user: User, how: str) -> int:
    """Failed or discarded jobs run again with their original arguments; returns how many."""
    return _change(jobs, writes.RETRYABLE, writes.retry_jobs, user=user, message=f"Retried {how}.")


def discard(*, jobs: QuerySet[Job], user: User, how: str) -> int:
    """Scheduled, ready, blocked or failed jobs are dropped; returns how many."""
    reason = f"discarded by {user.get_username()} {how}"
    return _change(
        jobs,
        writes.DISCARDABLE,
        lambda batch: writes.discard_jobs(batch, reason=reason),
        user=user,
        message=f"Discarded {how}.",
    )


def run_now(*, jobs: QuerySet[Job], user: User, how: str) -> int:
    """Scheduled or blocked jobs become due now; returns how many."""
    return _change(
        jobs, writes.RUNNABLE_NOW, writes.run_jobs_now, user=user, message=f"Made due now {how}."
    )


@transaction.atomic
def pause_queue(*, queue: str, user: User, how: str) -> bool:
    """False if it was paused already. ValueError for a queue that does not exist."""
    paused = pauses.pause(queue)
    if paused:
        _log(user, [QueuePause.objects.get(pk=queue)], ADDITION, f"Paused {how}.")
    return paused


@transaction.atomic
def resume_queue(*, queue: str, user: User, how: str) -> bool:
    """False if it was not paused. ValueError for a queue that does not exist."""
    pause = QueuePause.objects.filter(pk=queue).first()
    resumed = pauses.resume(queue)
    if resumed:  # logged as admin logs a deletion: the row it names is gone
        assert pause is not None  # resumed: there was a row (deleted in this transaction)
        _log(user, [pause], DELETION, f"Resumed {how}.")
    return resumed


@dataclass(frozen=True)
class SentTask:
    """What "Run now" on a periodic task sent: a ledger job (it has a job page), or a task of
    Celery's own (celery.backend_cleanup) that never has a ledger row."""

    id: str
    ledger: bool


@transaction.atomic
def run_periodic_task(*, task: PeriodicTask, user: User, how: str) -> SentTask:
    """Send a periodic task at once, with its stored arguments. A job goes through the ledger
    (published when this commits); any other Celery task is published as beat would send it,
    and has a task result but no job. ValueError for a task nobody registered."""
    from config.celery import app

    celery_task = app.tasks.get(task.task)
    if celery_task is None:
        raise ValueError(f"No job or task named {task.task!r} is registered.")
    result = celery_task.apply_async(
        json.loads(task.args or "[]"),
        json.loads(task.kwargs or "{}"),
        # Celery takes queue=None (its routing decides); celery-types leave None out.
        queue=task.queue or None,  # type: ignore[arg-type]
    )
    sent = SentTask(id=str(result.id), ledger=isinstance(celery_task, ApplicationJob))
    what = "job" if sent.ledger else "Celery task (not a ledger job)"
    _log(user, [task], CHANGE, f"Run now {how}: {what} {sent.id}.")
    return sent


def quiet_worker(*, hostname: str, user: User, how: str) -> bool:
    """The worker takes no new job; False if it was quiet already. ValueError saying what to
    do for an unknown worker or one that does not answer."""
    worker, changed = worker_control.quiet(hostname=hostname)
    if changed:
        _log(user, [worker], CHANGE, f"Quieted {how}: it takes no new job.")
    return changed


def stop_worker(*, hostname: str, user: User, how: str) -> None:
    """Warm shutdown: the worker finishes its running jobs, then exits. ValueError as for
    quiet_worker."""
    worker = worker_control.shutdown(hostname=hostname)
    _log(user, [worker], CHANGE, f"Stopped {how}: its running jobs finish first.")


@transaction.atomic
def _change(
    jobs: QuerySet[Job],
    states: Iterable[State],
    apply: Callable[[JobQuerySet], int],
    *,
    user: User,
    message: str,
) -> int:
    # Locked first, so the jobs recorded are exactly the jobs changed.
    ids = list(
        jobs.filter(state__in=states)
        .order_by("pk")
        .select_for_update()
        .values_list("pk", flat=True)
    )
    for start in range(0, len(ids), BATCH):
        batch = Job.objects.filter(pk__in=ids[start : start + BATCH])
        apply(batch)
        _log(user, batch.only("id", "class_name", "state"), CHANGE, message)
    return len(ids)


def _log(user: User, objects: Iterable[Model], action_flag: int, message: str) -> None:
    LogEntry.objects.log_actions(
        user_id=user.pk, queryset=objects, action_flag=action_flag, change_message=message
    )
