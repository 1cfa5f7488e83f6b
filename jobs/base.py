"""`ApplicationJob`, the base of every job, and how jobs are enqueued.

The Active Job calls of the seed, on Celery:

    EmailNotificationJob.delay(user.id, "welcome")                    # perform_later
    EmailNotificationJob.apply_async(args, countdown=3600)            # set(wait: 1.hour)
    EmailNotificationJob.apply_async(args, eta=tomorrow_noon)         # set(wait_until: …)
    EmailNotificationJob.apply_async(args, queue="high_priority")     # set(queue: …)
    EmailNotificationJob(user.id, "welcome")                          # perform_now
    enqueue_all([EmailNotificationJob.s(1, "welcome"), …])            # perform_all_later

Enqueueing writes the ledger row in the caller's transaction and publishes to Redis when it
commits; a job due later stays in PostgreSQL until the dispatcher publishes it.
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Concatenate, ParamSpec, Protocol, TypedDict, TypeVar, cast

from celery import Task
from celery.canvas import Signature
from celery.result import AsyncResult
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import models, transaction
from django.utils import timezone

from config.celery import app
from jobs.ledger import concurrency, writes
from jobs.ledger.concurrency import ConcurrencyLimit
from jobs.models import Job, State

logger = logging.getLogger("jobs")

_P = ParamSpec("_P")
_R_co = TypeVar("_R_co", covariant=True)
_J = TypeVar("_J", bound="ApplicationJob")


class _OnRegisteredJob(Protocol[_P, _R_co]):
    """Type-level only (see `called_on_the_job_name`): the method, bound, however reached."""

    def __get__(self, instance: object, owner: type | None = None) -> Callable[_P, _R_co]: ...


def called_on_the_job_name(
    method: Callable[Concatenate[Any, _P], _R_co],
) -> _OnRegisteredJob[_P, _R_co]:
    """Tell the type checker that `SomeJob.delay(...)` is a call on a registered instance.

    `@register` binds a job's class name to its registered instance, so `SomeJob.delay(1)` is a
    bound call at run time; mypy ignores what a class decorator returns, sees the class, and
    would take the first argument for `self`. At run time this returns the method unchanged.
    """
    return cast("_OnRegisteredJob[_P, _R_co]", method)


class _ConcurrencyFields(TypedDict, total=False):
    """NewJob's concurrency fields, set when the class limits concurrency."""

    concurrency_key: str
    concurrency_limit: int
    concurrency_duration: int
    on_conflict: str


# Celery's Task is generic in `run`'s parameters and result; each job class has its own `run`,
# checked at enqueue against its real signature (check_arguments), so the base takes any.
class ApplicationJob(Task[..., Any]):
    """Base for every job. Subclass, set the policies, implement `run`, decorate with
    `@register`; the Celery task name is the class name (`EmailNotificationJob`)."""

    queue = "default"
    priority = 0  # 0 is the most urgent
    max_attempts = 5  # runs in all, the first included
    retry_on: tuple[type[BaseException], ...] = ()
    discard_on: tuple[type[BaseException], ...] = (ObjectDoesNotExist,)
    retry_backoff = 3.0  # seconds before the first retry; doubles on each attempt
    retry_backoff_max = 3600.0
    retry_jitter = 0.25  # up to this fraction of the delay is added at random
    limits_concurrency: ConcurrencyLimit | None = None  # at most N at a time per key
    # While jobs of this class wait for a retry after one of `retry_probe_errors` (class
    # names), the dispatcher calls `retry_probe()` every few seconds; when it returns True the
    # cause is gone (the mail server answers again) and those retries run now, not at the end
    # of their back-off.
    retry_probe: Callable[[], bool] | None = None
    retry_probe_errors: tuple[str, ...] = ()

    # Delivery: ack after the run, redeliver when the worker process dies (the ledger's
    # compare-and-set claim makes a redelivery of a finished job a no-op).
    acks_late = True
    reject_on_worker_lost = True
    # Results are written by jobs.worker.execution, with the ledger row, in one statement.
    ignore_result = True
    # Sends task-revoked for a discard, so that Flower shows what the ledger says.
    Request = "jobs.worker.task_events:JobRequest"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.request.called_directly:  # perform_now: run inline, no ledger
            return super().__call__(*args, **kwargs)
        from jobs.worker.execution import run_job

        return run_job(self, args, kwargs)

    @called_on_the_job_name
    def delay(self, /, *args: Any, **kwargs: Any) -> AsyncResult[Any]:
        return self.apply_async(args, kwargs)

    # The override narrows Celery's signature on purpose: timing and routing by keyword only
    # (Celery's positional task_id, producer, link, link_error and shadow are not taken).
    @called_on_the_job_name
    def apply_async(  # type: ignore[override]
        self,
        /,
        args: Sequence[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        *,
        countdown: float | None = None,
        eta: datetime | None = None,
        queue: str | None = None,
        priority: int | None = None,
        task_id: str | None = None,
        **options: Any,
    ) -> AsyncResult[Any]:
        job = self.build_job(
            args,
            kwargs,
            countdown=countdown,
            eta=eta,
            queue=queue,
            priority=priority,
            task_id=task_id,
        )
        _enqueue([job], options)
        return self.AsyncResult(str(job.id))

    def _get_exec_options(self) -> dict[str, Any]:
        """The options Celery's `send_task` by name takes from a registered class; not its
        queue, which the router (jobs.routing) picks from the arguments, as an enqueue does
        (`queue_for`): an explicit `queue=` must stay the only queue a sender passes."""
        options: dict[str, Any] = dict(super()._get_exec_options())  # type: ignore[misc]
        options.pop("queue", None)
        return options

    def build_job(
        self,
        args: Sequence[Any] | None,
        kwargs: dict[str, Any] | None,
        *,
        countdown: float | None = None,
        eta: datetime | None = None,
        queue: str | None = None,
        priority: int | None = None,
        task_id: str | None = None,
    ) -> writes.NewJob:
        """Validate arguments and timing; raise TypeError/ValueError before anything is written.

        `run`'s signature is bound once; `validate` and `queue_for` get the arguments by name.
        """
        args, kwargs = list(args or ()), dict(kwargs or {})
        arguments = self.check_arguments(args, kwargs)
        now = timezone.now()
        if eta is not None and countdown is not None:
            raise ValueError(
                "Pass either countdown (seconds from now) or eta (a datetime), not both."
            )
        if eta is not None:
            if not isinstance(eta, datetime):
                raise TypeError(f"eta must be a datetime, not {type(eta).__name__}.")
            scheduled_at = eta if timezone.is_aware(eta) else timezone.make_aware(eta)
        else:
            scheduled_at = now + timedelta(seconds=float(countdown or 0))
        if queue is None:
            queue = self.queue_for(**arguments)
        queue = queue or self.queue
        if queue not in settings.JOB_QUEUES:
            raise ValueError(
                f"Unknown queue {queue!r}: use one of {', '.join(settings.JOB_QUEUES)}."
            )
        priority = self.priority if priority is None else priority
        if not isinstance(priority, int) or not 0 <= priority <= 9:
            raise ValueError(
                f"priority must be an integer from 0 (most urgent) to 9, not {priority!r}."
            )
        limit = self.limits_concurrency
        limit_fields: _ConcurrencyFields
        if limit is not None:
            limit_fields = {
                "concurrency_key": limit.key_for(self.name, args, kwargs)[:255],
                "concurrency_limit": limit.to,
                "concurrency_duration": int(limit.duration.total_seconds()),
                "on_conflict": limit.on_conflict,
            }
        else:
            limit_fields = {}
        return writes.NewJob(
            id=uuid.UUID(task_id) if task_id else uuid.uuid4(),
            class_name=self.name,
            queue=queue,
            priority=priority,
            args=args,
            kwargs=kwargs,
            state=State.SCHEDULED if scheduled_at > now else State.READY,
            scheduled_at=scheduled_at,
            max_attempts=self.max_attempts,
            **limit_fields,
        )

    # `*_: Any, **arguments: Any`: mypy lets an override of such a hook name only the
    # arguments it reads (keyword-only) and take the rest as `**_arguments`.
    def validate(self, *_: Any, **arguments: Any) -> None:
        """Refuse bad arguments at enqueue (raise ValueError or TypeError with the reason).

        Override it: called with `run`'s arguments by name, defaults included, once they fit
        `run` and are plain JSON."""

    def queue_for(self, *_: Any, **arguments: Any) -> str:
        """The queue of a job enqueued without `queue=`: `queue` unless overridden (an email's
        follows its type). Called with `run`'s arguments by name, after `validate`."""
        return self.queue

    def check_arguments(self, args: Sequence[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
        """Arguments must fit `run`, be plain JSON (a model instance is refused) and pass
        `validate`; returns them by name. Also for a job's own run-time check."""
        try:
            bound = self.run_signature.bind(*args, **kwargs)
        except TypeError as error:
            raise TypeError(f"{self.name}: {error}") from None
        for value in _walk([*args, *kwargs.values()]):
            if isinstance(value, models.Model):
                raise TypeError(
                    f"{self.name} got a {type(value).__name__} instance as an argument: "
                    f"pass the id ({type(value).__name__.lower()}.pk) instead, and load the "
                    "row in the job."
                )
            if not isinstance(value, str | int | float | bool | type(None) | list | tuple | dict):
                raise TypeError(
                    f"{self.name} got a {type(value).__name__} argument, which is not JSON: "
                    "pass plain data (ids, strings, numbers, lists, dicts; dates as ISO strings)."
                )
            if isinstance(value, str) and "\x00" in value:
                raise TypeError(
                    f"{self.name} got a string with a NUL character, which PostgreSQL cannot "
                    "store: remove it (or pass the id of the row that holds the text)."
                )
        for value in _walk([kwargs, *args]):
            if isinstance(value, dict) and not all(isinstance(k, str) for k in value):
                raise TypeError(f"{self.name}: dict keys in arguments must be strings (JSON).")
        bound.apply_defaults()
        self.validate(**bound.arguments)
        return bound.arguments

    @functools.cached_property
    def run_signature(self) -> inspect.Signature:
        return inspect.signature(self.run)

    def retry_delay(self, attempt: int, *, rand: float) -> float:
        """Seconds before the run after `attempt`: exponential, capped, plus jitter."""
        delay: float = min(self.retry_backoff_max, self.retry_backoff * 2 ** (attempt - 1))
        return delay + delay * self.retry_jitter * rand


def register(cls: type[_J]) -> _J:
    """Register a job class with Celery under its bare class name; returns the task."""
    # The stubs give Task's instance property `__name__`; on a class it is the class's name.
    cls.name = cls.__name__  # type: ignore[assignment]
    return app.register_task(cls())


def enqueue_all(signatures: Iterable[Signature[Any]], **options: Any) -> list[AsyncResult[Any]]:
    """perform_all_later: many jobs in one INSERT and one Redis pipeline."""
    built = []
    for sig in signatures:
        if sig.task is None:
            raise TypeError("enqueue_all takes signatures of jobs (SomeJob.s(…)); one has no task.")
        task = app.tasks[sig.task]
        if not isinstance(task, ApplicationJob):
            raise TypeError(f"{sig.task} is not an ApplicationJob; enqueue it with apply_async.")
        built.append(task.build_job(sig.args, sig.kwargs, **_timing(sig.options)))
    _enqueue(built, options)
    return [AsyncResult(str(job.id), app=app) for job in built]


def publish(jobs: Sequence[writes.NewJob | Job], options: dict[str, Any] | None = None) -> None:
    """Send ready jobs to Redis in one pipeline. Raises when Redis is unreachable.

    By task name: the dispatcher publishes jobs whose classes it need not import."""
    if not jobs:
        return
    options = dict(options or {})
    options.pop("producer", None)  # beat passes its own; ours batches the whole publish
    with app.producer_or_acquire() as producer:
        # One connection attempt: kombu would otherwise retry for the whole connect timeout
        # (2 s) and every request that enqueues would wait that long on a dead Redis.
        producer.connection.ensure_connection(max_retries=0)
        with producer.batch():
            for job in jobs:
                soft, hard = settings.JOB_TIME_LIMITS[job.queue]
                app.send_task(
                    job.class_name,
                    job.args,
                    job.kwargs,
                    task_id=str(job.id),
                    queue=job.queue,
                    priority=job.priority,
                    producer=producer,
                    retry=False,
                    soft_time_limit=soft,
                    time_limit=hard,
                    **options,
                )


def _enqueue(jobs: list[writes.NewJob], options: dict[str, Any]) -> None:
    if len({job.id for job in jobs}) < len(jobs):
        raise ValueError("Two jobs share a task_id: give each job its own task_id (or none).")
    if any(job.concurrency_key for job in jobs):
        with transaction.atomic():  # the key locks last until the caller's commit
            jobs = concurrency.admit(jobs)
            writes.insert(jobs)
    else:
        writes.insert(jobs)
    ready = [job for job in jobs if job.state == State.READY]
    if ready:
        transaction.on_commit(partial(_publish_after_commit, ready, options), robust=True)


# After a failed publish this process leaves its jobs to the dispatcher for this long instead
# of trying Redis again: an unreachable Redis (a partition, a stopped process) would otherwise
# add its connect timeout to every request that enqueues.
PUBLISH_BACKOFF_SECONDS = 5.0
_publish_backoff = {"until": 0.0}


def _publish_after_commit(jobs: list[writes.NewJob], options: dict[str, Any]) -> None:
    """Publish, never raising: a job Redis did not take stays ready for the dispatcher."""
    error: str | Exception
    if time.monotonic() < _publish_backoff["until"]:
        error = f"backing off, a publish failed less than {PUBLISH_BACKOFF_SECONDS:.0f} s ago"
    else:
        try:
            publish(jobs, options)
            return
        except Exception as exc:
            _publish_backoff["until"] = time.monotonic() + PUBLISH_BACKOFF_SECONDS
            error = exc
    logger.warning(
        "job.publish_failed count=%d error=%s: the dispatcher will publish them", len(jobs), error
    )
    try:
        writes.mark_unpublished([job.id for job in jobs])
    except Exception:
        logger.exception("job.mark_unpublished_failed count=%d", len(jobs))


def _timing(options: dict[str, Any]) -> dict[str, Any]:
    keys = ("countdown", "eta", "queue", "priority", "task_id")
    return {key: options[key] for key in keys if key in options}


def _walk(values: Iterable[Any]) -> Iterator[Any]:
    for value in values:
        yield value
        if isinstance(value, list | tuple):
            yield from _walk(value)
        elif isinstance(value, dict):
            yield from _walk(value.values())
