"""Celery's router for jobs (CELERY_TASK_ROUTES): every sender puts a job on its class's queue.

A job sent by name by a process that never imported its class (`celery call`, `send_task` from
a Django shell or another service, Flower) carries no queue of its own; Celery would put it on
`default` and a report would skip the reports worker. This router picks the queue the job's
class would have picked at enqueue:

    an explicit queue=          wins (the job layer's own publish always passes one)
    queue_for(**arguments)      when the arguments bind to `run` (an email's follows its type)
    the class's `queue`         otherwise (the worker then refuses the bad arguments)

A name this process does not know yet makes it import every app's tasks module once (setting
Django up first where nothing has: a bare `celery` CLI process).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from django.conf import settings

from config.celery import app, setup_django

if TYPE_CHECKING:
    from celery import Task

    from jobs.base import ApplicationJob


def route(
    name: str,
    args: Sequence[Any] | None,
    kwargs: Mapping[str, Any] | None,
    options: Mapping[str, Any],
    task: Task[..., Any] | None = None,
    **_: Any,
) -> dict[str, str] | None:
    """{"queue": …} for a job sent without a queue; None (Celery's default) for anything else.

    Runs on every publish: a message with its queue returns at once."""
    if options.get("queue"):
        return None
    job = _job_named(name, task)
    if job is None:
        return None
    return {"queue": queue_of(job, args or (), kwargs or {})}


def queue_of(job: ApplicationJob, args: Sequence[Any], kwargs: Mapping[str, Any]) -> str:
    """The queue `job` picks for these arguments, or its class's queue when they do not fit."""
    try:
        bound = job.run_signature.bind(*args, **kwargs)
        bound.apply_defaults()
        queue = job.queue_for(**bound.arguments)
    except Exception:  # arguments `run` cannot take or `queue_for` refuses: the worker says why
        return job.queue
    return queue if queue in settings.JOB_QUEUES else job.queue


def _job_named(name: str, task: Task[..., Any] | None) -> ApplicationJob | None:
    setup_django()  # a bare process: jobs.base imports the ledger's models
    from jobs.base import ApplicationJob

    if task is None:
        task = app.tasks.get(name)
    if task is None:
        import_job_classes()
        task = app.tasks.get(name)
    return task if isinstance(task, ApplicationJob) else None


@functools.cache
def import_job_classes() -> None:
    """Import every installed app's tasks module (Celery's autodiscovery), once per process."""
    app.autodiscover_tasks(force=True)
