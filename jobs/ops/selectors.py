"""Every read of the operator side: the jobs dashboard in admin (jobs/ops/admin_views.py),
/metrics (jobs/ops/metrics.py) and the `jobs` command share these; actions are in
jobs.ops.operations.

The queue snapshot (ready jobs, latency, pause) and the process snapshot (heartbeat age,
silent or not) are computed here once for all three.

Mission Control — Jobs' pages (queues, one tab per state, job page, workers, recurring tasks)
plus what it lacks: failures grouped by error here; charts and run-time percentiles in
jobs.ops.runs. Every query uses the ledger's partial indexes; lists are paginated without
counting the whole state, and counts come from one grouped query.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NotRequired, TypedDict

from django.conf import settings
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.models import Count, QuerySet
from django.utils import timezone
from django_celery_results.models import TaskResult

from config.params import parse_text
from jobs.ledger.writes import DISCARDABLE
from jobs.models import Job, JobAttempt, JobMetric, JobQuerySet, Process, QueuePause, State

LIST_STATES = ("failed", "claimed", "blocked", "scheduled", "ready", "finished", "discarded")
WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}
SECRET_WORDS = ("password", "token", "secret")
MASK = "••••••"
PAGE_SIZE = 50
COUNT_CAP = 100_000  # tab counts above it show as "100,000+"
# Order of each tab: what an operator looks at first.
ORDERING = {
    "failed": "-finished_at",
    "claimed": "claimed_at",
    "blocked": "created_at",
    "scheduled": "scheduled_at",
    "ready": "scheduled_at",
    "finished": "-finished_at",
    "discarded": "-finished_at",
}


@dataclass(frozen=True)
class JobFilter:
    state: str
    class_name: str = ""
    queue: str = ""
    since: str = ""  # a WINDOWS key: finished (or created) within it

    @classmethod
    def from_query(cls, state: str, query: Mapping[str, str]) -> JobFilter:
        if state not in LIST_STATES:
            raise ValueError(f"Unknown state {state!r}: use one of {', '.join(LIST_STATES)}.")
        since = query.get("since", "")
        return cls(
            state=state,
            class_name=parse_text(query.get("class", ""), name="class").strip(),
            queue=parse_text(query.get("queue", ""), name="queue").strip(),
            since=since if since in WINDOWS else "",
        )

    def queryset(self) -> QuerySet[Job]:
        jobs = Job.objects.filter(state=self.state)
        if self.class_name:
            jobs = jobs.filter(class_name=self.class_name)
        if self.queue:
            jobs = jobs.filter(queue=self.queue)
        if self.since:
            cutoff = timezone.now() - WINDOWS[self.since]
            field = (
                "finished_at" if self.state in ("failed", "finished", "discarded") else "created_at"
            )
            jobs = jobs.filter(**{f"{field}__gte": cutoff})
        return jobs

    def as_query(self) -> dict[str, str]:
        query = {"class": self.class_name, "queue": self.queue, "since": self.since}
        return {k: v for k, v in query.items() if v}


@dataclass(frozen=True)
class QueueSnapshot:
    name: str
    ready: int  # jobs ready now
    latency: float | None  # seconds the longest-waiting ready job has waited; None: none
    paused_at: datetime | None  # None: not paused

    @property
    def paused(self) -> bool:
        return self.paused_at is not None


def queue_snapshot() -> list[QueueSnapshot]:
    """Each queue of JOB_QUEUES, in that order: depth, latency, pause."""
    now = timezone.now()
    ready = Job.objects.ready_by_queue()
    paused = dict(QueuePause.objects.values_list("queue", "paused_at"))
    snapshot = []
    for queue in settings.JOB_QUEUES:
        count, oldest = ready.get(queue, (0, None))
        latency = (now - oldest).total_seconds() if oldest else None
        snapshot.append(QueueSnapshot(queue, count, latency, paused.get(queue)))
    return snapshot


@dataclass(frozen=True)
class ProcessSnapshot:
    process: Process
    age: float  # seconds since its last heartbeat
    stale: bool  # silent beyond JOBS_PROCESS_ALIVE_THRESHOLD: taken for dead


def process_snapshot() -> list[ProcessSnapshot]:
    """Every registered process (worker, pool process, dispatcher, beat), by kind, host, pid."""
    now = timezone.now()
    threshold = settings.JOBS_PROCESS_ALIVE_THRESHOLD
    rows = []
    for process in Process.objects.order_by("kind", "hostname", "pid"):
        age = (now - process.last_heartbeat_at).total_seconds()
        rows.append(ProcessSnapshot(process, age, age > threshold))
    return rows


def worker_named(name: str) -> Process | None:
    """The registered worker (a celery node name, e.g. celery@host) of that name."""
    return Process.objects.filter(kind=Process.Kind.WORKER, name=name).order_by("-pk").first()


def worker_names() -> list[str]:
    return list(
        Process.objects.filter(kind=Process.Kind.WORKER)
        .order_by("name")
        .values_list("name", flat=True)
    )


def running_counts() -> dict[int | None, int]:
    """{process row id: claimed jobs}."""
    return dict(Job.objects.claimed().order_by().values_list("process_id").annotate(Count("id")))


def state_counts() -> dict[str, int]:
    """Every state, counted exactly (the command's status; the dashboard caps its counts)."""
    counts = Job.objects.counts_by_state()
    return {state.value: counts.get(state.value, 0) for state in State}


def counts_by_class_and_state() -> dict[str, dict[str, int]]:
    rows = Job.objects.order_by().values_list("class_name", "state").annotate(n=Count("id"))
    by_class: dict[str, dict[str, int]] = {}
    for class_name, state, count in rows:
        by_class.setdefault(class_name, {})[state] = count
    return by_class


def failed_jobs(*, class_name: str = "") -> JobQuerySet:
    """Failed jobs, latest first; of one class if given."""
    jobs = Job.objects.failed().order_by("-finished_at")
    return jobs.filter(class_name=class_name) if class_name else jobs


def scheduled_jobs(*, limit: int) -> tuple[int, list[Job]]:
    """All scheduled jobs counted, and the first `limit` of them, soonest due first."""
    jobs = Job.objects.scheduled()
    return jobs.count(), list(jobs.order_by("scheduled_at", "id")[:limit])


def jobs_to_discard(*, state: str, class_name: str = "", queue: str = "") -> JobQuerySet:
    """The jobs `jobs discard --all` takes: those in one state a job can be discarded from,
    of one class and one queue if given. Raises ValueError naming what is allowed."""
    states = [str(one) for one in DISCARDABLE]
    if state not in states:
        raise ValueError(
            f"Cannot discard {state!r} jobs: --state takes one of {', '.join(states)} "
            "(finished, claimed and discarded jobs stay as they are)."
        )
    if queue and queue not in settings.JOB_QUEUES:
        raise ValueError(
            f"Unknown queue {queue!r}: --queue takes one of {', '.join(settings.JOB_QUEUES)}."
        )
    jobs = Job.objects.filter(state=state)
    if class_name:
        jobs = jobs.filter(class_name=class_name)
    return jobs.filter(queue=queue) if queue else jobs


def task_result(job: Job) -> TaskResult | None:
    return TaskResult.objects.filter(task_id=str(job.id)).first()


class QueueRow(TypedDict):
    name: str
    ready: int
    latency: float | None
    paused: bool
    paused_by: LogEntry | None
    latency_text: NotRequired[str]  # added by the dashboard view


class Overview(TypedDict):
    counts: list[tuple[str, str]]
    queues: list[QueueRow]
    live_workers: int


def overview() -> Overview:
    counts = Job.objects.capped_counts_by_state(cap=COUNT_CAP)
    snapshot = queue_snapshot()
    paused_by = pause_entries({q.name: q.paused_at for q in snapshot if q.paused_at})
    queues: list[QueueRow] = [
        {
            "name": queue.name,
            "ready": queue.ready,
            "latency": queue.latency,
            "paused": queue.paused,
            "paused_by": paused_by.get(queue.name),
        }
        for queue in snapshot
    ]
    return {
        "counts": [(state.value, count_label(counts[state.value])) for state in State],
        "queues": queues,
        "live_workers": Process.objects.filter(kind=Process.Kind.WORKER).count(),
    }


def pause_entries(paused: dict[str, datetime]) -> dict[str, LogEntry]:
    """Admin's history entry of each current pause (who, when); none for a CLI pause."""
    entries = (
        LogEntry.objects.filter(
            content_type=ContentType.objects.get_for_model(QueuePause),
            object_id__in=list(paused),
            action_flag=ADDITION,
        )
        .select_related("user")
        .order_by("object_id", "-action_time")
        .distinct("object_id")
    )
    # An entry older than the pause is from an earlier one, since resumed.
    return {
        e.object_id: e
        for e in entries
        if e.object_id is not None and e.action_time >= paused[e.object_id]
    }


def count_label(count: int) -> str:
    return f"{COUNT_CAP:,}+" if count > COUNT_CAP else f"{count:,}"


def page(job_filter: JobFilter, *, number: int) -> tuple[list[Job], bool]:
    """One page of a tab and whether another follows (no count of the whole state)."""
    start = (max(number, 1) - 1) * PAGE_SIZE
    rows = list(
        job_filter.queryset().order_by(ORDERING[job_filter.state], "id")[
            start : start + PAGE_SIZE + 1
        ]
    )
    for job in rows:
        job.masked_args = masked_json(job.args)
        job.masked_kwargs = masked_json(job.kwargs) if job.kwargs else ""
    return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE


def class_names() -> list[str]:
    """For the filter's suggestions: every class the counters have seen."""
    return sorted(set(JobMetric.objects.values_list("class_name", flat=True).distinct()))


class FailureGroup(TypedDict):
    class_name: str
    error_class: str
    runs: int  # runs that ended with this error within the window, whatever came after
    failed_now: int  # jobs failed with it (their last run's error), ended within the window
    last: datetime
    sample: str  # the latest of the group's error messages, cut at 200 characters


# Errors of runs (jobs_jobattempt, its partial error index: an index-only scan over the
# window) beside the jobs failed now (jobs_job's failed index), joined per class and error;
# the sample is each group's latest run (or failed job) message, one index probe per group.
_TRIAGE = """
WITH runs AS (
    SELECT class_name, error_class, count(*) AS runs, max(finished_at) AS last
    FROM jobs_jobattempt WHERE error_class <> '' AND finished_at >= %(cutoff)s
    GROUP BY 1, 2
), failed AS (
    SELECT class_name, error_class, count(*) AS failed, max(finished_at) AS last
    FROM jobs_job WHERE state = 'failed' AND finished_at >= %(cutoff)s
    GROUP BY 1, 2
), groups AS (
    SELECT class_name, error_class, coalesce(r.runs, 0) AS runs,
        coalesce(f.failed, 0) AS failed, greatest(r.last, f.last) AS last
    FROM runs r FULL JOIN failed f USING (class_name, error_class)
)
SELECT g.class_name, g.error_class, g.runs, g.failed, g.last,
    left(coalesce(
        (SELECT a.error_message FROM jobs_jobattempt a
         WHERE a.error_class <> '' AND a.finished_at >= %(cutoff)s
           AND a.class_name = g.class_name AND a.error_class = g.error_class
         ORDER BY a.finished_at DESC LIMIT 1),
        (SELECT j.error_message FROM jobs_job j
         WHERE j.state = 'failed' AND j.class_name = g.class_name
           AND j.error_class = g.error_class
         ORDER BY j.finished_at DESC LIMIT 1), ''), 200)
FROM groups g
ORDER BY g.runs DESC, g.failed DESC, g.class_name, g.error_class
"""


def triage(*, window: str) -> list[FailureGroup]:
    """Errors grouped by job class and error class over a window (GoodJob's Cleaner), counted
    per run from the ledger's kept runs: a job that failed 4 times and then finished still
    shows its 4 errors, and an operator's retry wipes none of them. Beside each group, the
    jobs failed with it now (what "Retry all" in the failed tab would take)."""
    cutoff = timezone.now() - WINDOWS[window]
    with connection.cursor() as cursor:
        cursor.execute(_TRIAGE, {"cutoff": cutoff})
        return [
            {
                "class_name": class_name,
                "error_class": error_class,
                "runs": runs,
                "failed_now": failed,
                "last": last,
                "sample": sample,
            }
            for class_name, error_class, runs, failed, last, sample in cursor.fetchall()
        ]


RUNS_SHOWN = 100  # the job page's attempts table: the newest runs


@dataclass(frozen=True)
class RunRow:
    number: int  # 1 = the job's first run ever, counted across operator retries
    run: JobAttempt
    running: bool = False  # the run going on now: built from the job row, not yet kept


@dataclass(frozen=True)
class JobRuns:
    rows: list[RunRow]  # newest first: the run going on now, then at most `limit` kept runs
    kept: int  # runs that ended (jobs_jobattempt), all of them

    @property
    def in_all(self) -> int:
        return self.kept + (1 if self.rows and self.rows[0].running else 0)

    @property
    def shown(self) -> int:
        return len(self.rows)


def job_runs(job: Job, *, limit: int = RUNS_SHOWN) -> JobRuns:
    """A job's runs, newest first, numbered across operator retries (a retry starts the
    attempts again at 1, the numbers go on); when the job is claimed, its run going on now
    stands first."""
    kept = job.runs.count()
    rows = [
        RunRow(kept - i, run)
        for i, run in enumerate(job.runs.order_by("-finished_at", "-id")[:limit])
    ]
    if job.state == State.CLAIMED and job.claimed_at:
        current = JobAttempt(
            job=job,
            attempt=job.attempts,
            class_name=job.class_name,
            queue=job.queue,
            worker=job.worker,
            process_id=job.process_id,
            started_at=job.claimed_at,
            finished_at=job.claimed_at,
            waited=max((job.claimed_at - job.scheduled_at).total_seconds(), 0),
        )
        rows.insert(0, RunRow(kept + 1, current, running=True))
    return JobRuns(rows, kept)


class WorkerRow(TypedDict):
    process: Process
    age: float
    stale: bool
    jobs: list[Job]  # the jobs it runs (its claimed jobs)


def workers() -> list[WorkerRow]:
    running: dict[int | None, list[Job]] = {}
    for job in Job.objects.claimed().order_by("claimed_at")[:500]:
        running.setdefault(job.process_id, []).append(job)
    return [
        {
            "process": row.process,
            "age": row.age,
            "stale": row.stale,
            "jobs": running.get(row.process.id, []),
        }
        for row in process_snapshot()
    ]


def mask(value: object) -> object:
    """Arguments with a secret-looking key (password, token, secret) are never shown."""
    if isinstance(value, dict):
        return {
            key: MASK if any(word in str(key).lower() for word in SECRET_WORDS) else mask(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [mask(item) for item in value]
    return value


def masked_json(value: object) -> str:
    """Arguments as the job received them (JSON: `true`, `null`, `"…"`), secrets masked, for
    the dashboard; Python's repr would show `True`, `None` and `'…'` instead."""
    return json.dumps(mask(value), ensure_ascii=False, default=str)


def get_job(job_id: str) -> Job | None:
    try:
        return Job.objects.filter(pk=uuid.UUID(str(job_id))).first()
    except ValueError:
        return None


def latency_text(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.0f} min"
