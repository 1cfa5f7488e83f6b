"""The job ledger: one row per job, the source of truth Celery + Redis lack.

A job's id is its Celery task id; its result stays in django-celery-results' TaskResult under
the same id. Every state change is made by `jobs.ledger.writes` in SQL that checks the state it
expects (compare-and-set), so a duplicate message or a late worker changes nothing.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.db import models
from django.utils import timezone


class State(models.TextChoices):
    SCHEDULED = "scheduled"  # due in the future; held in PostgreSQL, not in Redis
    READY = "ready"  # due; published to Redis (or about to be, by the dispatcher)
    CLAIMED = "claimed"  # a worker is running it
    BLOCKED = "blocked"  # waiting for a concurrency slot
    FINISHED = "finished"
    FAILED = "failed"  # out of attempts, or an error not listed in retry_on
    DISCARDED = "discarded"  # dropped on purpose (discard_on, or by an operator)


class JobQuerySet(models.QuerySet["Job"]):
    """The seed's console queries: `Job.objects.failed().filter(class_name=…).retry()`."""

    def scheduled(self) -> JobQuerySet:
        return self.filter(state=State.SCHEDULED)

    def ready(self) -> JobQuerySet:
        return self.filter(state=State.READY)

    def claimed(self) -> JobQuerySet:
        return self.filter(state=State.CLAIMED)

    def blocked(self) -> JobQuerySet:
        return self.filter(state=State.BLOCKED)

    def finished(self) -> JobQuerySet:
        return self.filter(state=State.FINISHED)

    def failed(self) -> JobQuerySet:
        return self.filter(state=State.FAILED)

    def discarded(self) -> JobQuerySet:
        return self.filter(state=State.DISCARDED)

    def counts_by_class(self) -> dict[str, int]:
        rows = self.order_by().values_list("class_name").annotate(n=models.Count("id"))
        return dict(rows)

    def counts_by_state(self) -> dict[str, int]:
        rows = self.order_by().values_list("state").annotate(n=models.Count("id"))
        return dict(rows)

    def capped_counts_by_state(self, *, cap: int) -> dict[str, int]:
        """Each state counted up to `cap` (Mission Control caps its counts too): one short
        scan of that state's partial index each, instead of a scan of the whole ledger."""
        counts: dict[str, int] = {}
        for state in State:
            counts[state.value] = (
                self.filter(state=state).order_by().values("id")[: cap + 1].count()
            )
        return counts

    def ready_by_queue(self) -> dict[str, tuple[int, datetime]]:
        """{queue: (ready jobs, when the longest-waiting one became due)}: depth and latency."""
        rows = (
            self.ready()
            .order_by()
            .values_list("queue")
            .annotate(models.Count("id"), models.Min("scheduled_at"))
        )
        return {queue: (count, oldest) for queue, count, oldest in rows}

    def retry(self) -> int:
        """Re-enqueue failed or discarded jobs with their original arguments."""
        from jobs.ledger import writes

        return writes.retry_jobs(self)

    def discard(self, *, reason: str = "discarded by an operator") -> int:
        from jobs.ledger import writes

        return writes.discard_jobs(self, reason=reason)


class Job(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    class_name = models.CharField(max_length=200)
    queue = models.CharField(max_length=100)
    priority = models.PositiveSmallIntegerField(default=0, help_text="0 is the most urgent")
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=10, choices=State.choices)
    scheduled_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="runs started so far")
    max_attempts = models.PositiveSmallIntegerField(default=1)
    worker = models.CharField(max_length=255, blank=True)
    # The jobs.Process that claimed it; no foreign key, so that a process row can be deleted
    # (it died) while its jobs wait for recovery.
    process_id = models.BigIntegerField(null=True, blank=True)
    concurrency_key = models.CharField(max_length=255, blank=True)
    concurrency_limit = models.PositiveSmallIntegerField(
        default=0, help_text="at most this many ready or claimed jobs per key; 0 = no limit"
    )
    concurrency_duration = models.PositiveIntegerField(
        default=0, help_text="seconds a ready or claimed job holds its slot, at most"
    )
    created_at = models.DateTimeField(default=timezone.now)
    published_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error_class = models.CharField(max_length=255, blank=True)
    error_message = models.TextField(blank=True)
    error_traceback = models.TextField(blank=True)

    objects = JobQuerySet.as_manager()

    # Not fields: set on the rows of a dashboard list page (jobs.ops.selectors.page), the
    # arguments with secret-looking keys masked.
    masked_args: Any
    masked_kwargs: Any

    class Meta:
        # Each state change of a job rewrites its index entries, so every index but the
        # primary key is partial: a row sits in the one index of the state it is in.
        indexes = [
            models.Index(
                fields=["scheduled_at"], name="job_due_idx", condition=models.Q(state="scheduled")
            ),
            models.Index(
                fields=["created_at"],
                name="job_unpublished_idx",
                condition=models.Q(state="ready", published_at__isnull=True),
            ),
            models.Index(
                fields=["queue", "priority", "created_at"],
                name="job_ready_idx",
                condition=models.Q(state="ready"),
            ),
            models.Index(
                fields=["claimed_at"], name="job_claimed_idx", condition=models.Q(state="claimed")
            ),
            models.Index(
                fields=["concurrency_key", "priority", "created_at"],
                name="job_blocked_idx",
                condition=models.Q(state="blocked"),
            ),
            models.Index(
                fields=["concurrency_key"],
                name="job_holding_idx",
                condition=models.Q(state__in=["ready", "claimed"]) & ~models.Q(concurrency_key=""),
            ),
            models.Index(
                fields=["class_name", "finished_at"],
                name="job_failed_idx",
                condition=models.Q(state="failed"),
            ),
            models.Index(  # retries waiting, for the dispatcher's retry probes
                fields=["class_name", "error_class"],
                name="job_retry_idx",
                condition=models.Q(state="scheduled", attempts__gt=0),
            ),
            models.Index(
                fields=["state", "finished_at"],  # state first: each of the two counts alone
                name="job_done_idx",
                condition=models.Q(state__in=["finished", "discarded"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.class_name} {self.id} ({self.state})"

    def retry(self) -> bool:
        return Job.objects.filter(pk=self.pk).retry() == 1

    def discard(self, *, reason: str = "discarded by an operator") -> bool:
        return Job.objects.filter(pk=self.pk).discard(reason=reason) == 1


class Outcome(models.TextChoices):
    """How one run of a job ended (JobAttempt.outcome)."""

    FINISHED = "finished"
    FAILED = "failed"
    RETRIED = "retried"  # an error its class retries: the job was scheduled again
    DISCARDED = "discarded"  # discard_on, or revoked/terminated while running
    LOST = "lost"  # its process died (recovered by the dispatcher), or its outcome was refused


class JobAttempt(models.Model):
    """One run of a job, kept when the run ends, whatever ends it (Oban's `errors`, Solid
    Queue's failed executions, for every run): an operator's retry starts a new round of
    attempts but never wipes these.

    Written by the ledger's own trigger on jobs_job (migration 0008): every UPDATE that takes a
    row out of `claimed` — an outcome, a recovered orphan, a terminate — adds the run it ended,
    in the statement that ended it. Deleted with their job (`jobs prune`, admin's delete).
    """

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="runs", db_constraint=False)
    attempt = models.PositiveSmallIntegerField(help_text="the attempt number the run had")
    class_name = models.CharField(max_length=200)
    queue = models.CharField(max_length=100)
    worker = models.CharField(max_length=255, blank=True)
    process_id = models.BigIntegerField(null=True, blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    waited = models.FloatField(default=0, help_text="seconds from due to start")
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    error_class = models.CharField(max_length=255, blank=True)
    error_message = models.TextField(blank=True)
    error_traceback = models.TextField(blank=True)

    class Meta:
        indexes = [
            # Run-time percentiles over a window: an index-only scan.
            models.Index(
                fields=["finished_at"],
                include=["class_name", "queue", "started_at"],
                name="jobattempt_finished_idx",
            ),
            # Errors over a window (triage), however many runs succeeded.
            models.Index(
                fields=["finished_at"],
                include=["class_name", "error_class"],
                name="jobattempt_error_idx",
                condition=~models.Q(error_class=""),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.class_name} {self.job_id} attempt {self.attempt} ({self.outcome})"

    @property
    def duration(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()


class JobStat(models.Model):
    """Jobs enqueued, ended and waited per minute, queue and class: what the per-queue charts
    and /metrics' `enqueued` read instead of counting the ledger.

    Rows are deltas added by the ledger's triggers (migration 0008), one per group and
    statement, never updated, so concurrent statements never wait on each other; the
    dispatcher folds them (jobs.ledger.stats.compact): one row per minute for a day, per hour
    for a week, per day after that. Pruning jobs leaves these counts as they are.
    """

    bucket = models.DateTimeField()
    queue = models.CharField(max_length=100)
    class_name = models.CharField(max_length=200)
    enqueued = models.IntegerField(db_default=0)
    finished = models.IntegerField(db_default=0)
    failed = models.IntegerField(db_default=0)
    retried = models.IntegerField(db_default=0)
    discarded = models.IntegerField(db_default=0)
    runs = models.IntegerField(db_default=0, help_text="runs that ended")
    wait_sum = models.FloatField(db_default=0, help_text="seconds from due to start, summed")
    wait_max = models.FloatField(db_default=0)

    class Meta:
        indexes = [models.Index(fields=["bucket"], name="jobstat_bucket_idx")]

    def __str__(self) -> str:
        return f"{self.bucket:%Y-%m-%d %H:%M} {self.queue} {self.class_name}"


class Process(models.Model):
    """A live worker, worker pool process, dispatcher or beat, heartbeating (jobs.worker.processes).

    A claimed job whose process row is gone or stale is re-enqueued by the dispatcher.
    """

    class Kind(models.TextChoices):
        WORKER = "worker"  # a celery worker's main process (consumes, supervises its pool)
        FORK = "fork"  # a prefork pool process: runs the jobs
        DISPATCHER = "dispatcher"
        BEAT = "beat"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    name = models.CharField(max_length=255, help_text="celery node name or process label")
    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    supervisor_pid = models.PositiveIntegerField(null=True, blank=True)
    queues = models.JSONField(default=list, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    last_heartbeat_at = models.DateTimeField(default=timezone.now)
    quiet_since = models.DateTimeField(
        null=True, blank=True, help_text="a worker told to take no new job (jobs.worker.control)"
    )

    class Meta:
        verbose_name_plural = "processes"
        permissions = [("operate_workers", "Can quiet and stop workers")]
        constraints = [
            models.UniqueConstraint(fields=["hostname", "pid"], name="process_host_pid_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.name} pid {self.pid}"


class QueuePause(models.Model):
    """A paused queue: workers stop taking its jobs, which stay ready (jobs.ledger.pauses)."""

    queue = models.CharField(max_length=100, primary_key=True)
    paused_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.queue} paused"


class PeriodicRun(models.Model):
    """A run of a periodic task that beat sent, named by the run it follows (its entry's
    `last_run_at` before the send). Two sends of the same run cannot both commit: a beat
    whose copy of the schedule is stale, or a second beat that believes it leads, finds the
    row taken and sends nothing (jobs.worker.beat_scheduler; Solid Queue's
    recurring_executions, unique on task and run time). Pruned with the ledger."""

    task = models.CharField(max_length=200, help_text="the periodic task's name")
    after = models.DateTimeField(help_text="the last_run_at this send followed")
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["task", "after"], name="periodic_run_once")]
        indexes = [models.Index(fields=["sent_at"], name="periodic_run_sent_at")]

    def __str__(self) -> str:
        return f"{self.task} after {self.after:%Y-%m-%d %H:%M:%S}"


class JobMetric(models.Model):
    """Monotonic counters behind /metrics, kept by a trigger on jobs_job (migration 0004):
    every transition to finished, failed, discarded, scheduled-again (a retry) or ready-again
    (an orphan recovered), and each finished run's duration bucket. Pruning ledger rows never
    lowers them; `pruned` counts the rows `jobs prune` deleted (`enqueued` comes from JobStat)."""

    name = models.CharField(max_length=40)
    class_name = models.CharField(max_length=200)
    queue = models.CharField(max_length=100)
    le = models.CharField(max_length=16, blank=True, help_text="histogram bucket bound")
    value = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["name", "class_name", "queue", "le"], name="jobmetric_series_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name}{{{self.class_name},{self.queue},{self.le}}} = {self.value}"
