"""Reads of the runs (jobs.JobAttempt) and the per-minute stats (jobs.JobStat) for the jobs
dashboard: run-time percentiles over a window, and charts of jobs enqueued, ended and waited.

Percentiles are PostgreSQL's percentile_cont over each run's finished_at - started_at, every
outcome, per class and per queue in one scan (GROUPING SETS). Exact while the window holds at
most TARGET_RUNS runs (known from JobStat without counting runs); beyond that, from a sample
of about TARGET_RUNS, and the page says which: on 1,000,000 runs an exact week takes seconds,
the sample about a tenth of a second, p50 within a few percent and p99 within ~8 % per class
(measures in docs/PERFORMANCE.md).

Charts read JobStat (a few thousand rows for a week), never the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypedDict

from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from jobs.ops.charts import AMBER, BLUE, GREEN, GREY, RED, Chart, Series, bar_chart, seconds_text
from jobs.ops.selectors import WINDOWS

TARGET_RUNS = 50_000
# Per window: the chart's bucket; the overview's chart spans OVERVIEW_SPAN per minute.
STEPS = {"1h": timedelta(minutes=1), "24h": timedelta(minutes=15), "7d": timedelta(hours=1)}
OVERVIEW_SPAN = timedelta(hours=3)
# Sorting a sample of TARGET_RUNS in memory, not on disk (default work_mem is 4MB).
SORT_MEMORY = "32MB"
# A sampled estimate (a busy 24 h or 7 d window, ~0.1 s to compute) is kept this long in the
# web process's cache: the live refresh asks every 5 s per open tab; exact ones never are.
SAMPLE_TTL = 30


class RunTimeRow(TypedDict):
    name: str  # the class or the queue
    runs: int  # runs read (in the sample, when sampled)
    p50: float  # seconds
    p95: float
    p99: float
    p50_text: str
    p95_text: str
    p99_text: str


class RunTimes(TypedDict):
    window: str
    by_class: list[RunTimeRow]
    by_queue: list[RunTimeRow]
    exact: bool
    runs: int  # runs read
    window_runs: int  # runs in the window (JobStat's count; for a sample, the whole)
    basis: str  # "exact, from 1,234 runs" / "estimated from a sample of …"


def run_times(*, window: str, queue: str = "", target: int = TARGET_RUNS) -> RunTimes:
    """p50, p95 and p99 of run time per class and per queue (of one queue, if given) over a
    WINDOWS window: exact up to `target` runs, else from a sample of about `target`."""
    now = timezone.now()
    since = now - WINDOWS[window]
    counts = _run_counts(since=since, queue=queue)
    fraction = 1.0 if counts.window <= target else target / counts.window
    key = f"jobs:run-times:{window}:{queue}:{target}"
    if fraction < 1 and (kept := cache.get(key)) is not None:
        cached: RunTimes = kept
        return cached
    by_class: list[RunTimeRow] = []
    by_queue: list[RunTimeRow] = []
    for is_class, name, runs, percentiles in _percentiles(
        since=since, queue=queue, fraction=fraction, counts=counts
    ):
        if runs and percentiles:  # not the grand total of no run at all
            (by_class if is_class else by_queue).append(_row(name, runs, percentiles))
    read = sum(row["runs"] for row in by_queue)
    exact = fraction >= 1
    if exact:
        basis = f"exact, from {read:,} run{'s' if read != 1 else ''}"
    else:
        as_of = timezone.localtime(now).strftime("%H:%M:%S")
        basis = (
            f"estimated from a sample of {read:,} of about {counts.window:,} runs "
            f"(as of {as_of}, sampled again every {SAMPLE_TTL} s)"
        )
    result: RunTimes = {
        "window": window,
        "by_class": by_class,
        "by_queue": by_queue,
        "exact": exact,
        "runs": read,
        "window_runs": read if exact else counts.window,
        "basis": basis,
    }
    if not exact:
        cache.set(key, result, SAMPLE_TTL)
    return result


def overview_chart() -> Chart:
    """Finished and failed jobs per minute over the last OVERVIEW_SPAN."""
    step = timedelta(minutes=1)
    start, count = _range(OVERVIEW_SPAN, step)
    sums = _stat_sums(start=start, step=step, count=count)
    return bar_chart(
        chart_id="jobs-chart-ended",
        title=f"Finished and failed per minute, last {OVERVIEW_SPAN.seconds // 3600} hours",
        start=start,
        step=step,
        series=[Series("finished", GREEN, sums["finished"]), Series("failed", RED, sums["failed"])],
    )


class QueueStats(TypedDict):
    queue: str
    window: str
    step_text: str
    enqueued: Chart
    ended: Chart
    latency: Chart
    run_times: RunTimes
    enqueued_total: int
    finished_total: int
    failed_total: int
    runs_total: int
    wait_avg_text: str
    wait_max_text: str


def queue_stats(*, queue: str, window: str) -> QueueStats:
    """One queue over a WINDOWS window: enqueued, finished and failed per bucket (STEPS), the
    wait from due to start (average and maximum per bucket), and its run-time percentiles."""
    step = STEPS[window]
    start, count = _range(WINDOWS[window], step)
    sums = _stat_sums(start=start, step=step, count=count, queue=queue)
    per = "minute" if step == timedelta(minutes=1) else _step_text(step)
    runs, wait_sum = sum(sums["runs"]), sum(sums["wait_sum"])
    averages = [s / r if r else 0.0 for s, r in zip(sums["wait_sum"], sums["runs"], strict=True)]
    return {
        "queue": queue,
        "window": window,
        "step_text": per,
        "enqueued": bar_chart(
            chart_id="jobs-queue-enqueued",
            title=f"Enqueued per {per}",
            series=[Series("enqueued", BLUE, sums["enqueued"])],
            start=start,
            step=step,
        ),
        "ended": bar_chart(
            chart_id="jobs-queue-ended",
            title=f"Finished and failed per {per}",
            series=[
                Series("finished", GREEN, sums["finished"]),
                Series("failed", RED, sums["failed"]),
            ],
            start=start,
            step=step,
        ),
        "latency": bar_chart(
            chart_id="jobs-queue-latency",
            title=f"Latency (due to start) per {per}",
            series=[Series("max", GREY, sums["wait_max"]), Series("average", AMBER, averages)],
            stacked=False,
            fmt=seconds_text,
            start=start,
            step=step,
        ),
        "run_times": run_times(window=window, queue=queue),
        "enqueued_total": int(sum(sums["enqueued"])),
        "finished_total": int(sum(sums["finished"])),
        "failed_total": int(sum(sums["failed"])),
        "runs_total": int(runs),
        "wait_avg_text": seconds_text(wait_sum / runs) if runs else "-",
        "wait_max_text": seconds_text(max(sums["wait_max"], default=0)) if runs else "-",
    }


def _range(span: timedelta, step: timedelta) -> tuple[datetime, int]:
    """The buckets ending with the one that holds now: (first bucket's start, how many)."""
    now = timezone.now()
    epoch = datetime(2000, 1, 1, tzinfo=now.tzinfo)
    current = now - (now - epoch) % step
    count = int(span / step)
    return current - (count - 1) * step, count


FIELDS = ("enqueued", "finished", "failed", "runs", "wait_sum", "wait_max")


def _stat_sums(
    *, start: datetime, step: timedelta, count: int, queue: str = ""
) -> dict[str, list[float]]:
    """FIELDS per bucket of `step` from `start`, summed over classes (and queues unless one is
    given); wait_max is the maximum. Stats rows coarser than `step` (hours beyond a day, days
    beyond a week) fall in the bucket their start is in."""
    where = "bucket >= %s AND bucket < %s"
    params: list[datetime | str | float] = [start, start + count * step]
    if queue:
        where, params = where + " AND queue = %s", [*params, queue]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT date_bin(make_interval(secs => %s), bucket, %s), sum(enqueued),
                   sum(finished), sum(failed), sum(runs), sum(wait_sum), max(wait_max)
            FROM jobs_jobstat WHERE {where}
            GROUP BY 1
            """,
            [step.total_seconds(), start, *params],
        )
        rows = cursor.fetchall()
    sums = {field: [0.0] * count for field in FIELDS}
    for bucket, *values in rows:
        index = int((bucket - start) / step)
        if 0 <= index < count:
            for field, value in zip(FIELDS, values, strict=True):
                sums[field][index] = float(value or 0)
    return sums


def _percentiles(
    *, since: datetime, queue: str, fraction: float, counts: _RunCounts
) -> list[tuple[bool, str, int, list[float] | None]]:
    """(per class?, class or queue, runs read, [p50, p95, p99]) of the runs that ended since
    then, all of them (fraction 1) or about that fraction of them."""
    where = "finished_at >= %s"
    params: list[datetime | str | float] = [since]
    if queue:
        where, params = where + " AND queue = %s", [*params, queue]
    sample = ""
    if fraction < 1 and counts.table * fraction < counts.all_queues:
        # Pages of the whole table: fewer rows to read than the window's index entries.
        sample = f"TABLESAMPLE SYSTEM ({fraction * 100:.4f}) REPEATABLE (19)"
    elif fraction < 1:
        # A recent window of a longer history: its index entries, one in 1/fraction kept.
        where, params = where + " AND random() < %s", [*params, fraction]
    # One queue's total is the grand total, computed in the same sort as its classes.
    total, sets = ("%s", "(class_name), ()") if queue else ("queue", "(class_name), (queue)")
    if queue:
        params = [queue, *params]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL work_mem = '{SORT_MEMORY}'")
        cursor.execute("SELECT setseed(0.19)")  # the same sample on every refresh
        cursor.execute(
            f"""
            SELECT GROUPING(class_name) = 0, CASE WHEN GROUPING(class_name) = 0
                   THEN class_name ELSE {total} END, count(*),
                   percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP
                       (ORDER BY extract(epoch FROM finished_at - started_at))
            FROM jobs_jobattempt {sample}
            WHERE {where}
            GROUP BY GROUPING SETS ({sets})
            ORDER BY 1 DESC, 2
            """,
            params,
        )
        rows: list[tuple[bool, str, int, list[float] | None]] = cursor.fetchall()
    return rows


def _row(name: str, runs: int, percentiles: list[float]) -> RunTimeRow:
    p50, p95, p99 = (float(p) for p in percentiles)
    return {
        "name": name,
        "runs": runs,
        "p50": p50,
        "p95": p95,
        "p99": p99,
        "p50_text": seconds_text(p50),
        "p95_text": seconds_text(p95),
        "p99_text": seconds_text(p99),
    }


@dataclass(frozen=True)
class _RunCounts:
    window: int  # runs in the window (of the queue, if one is asked)
    all_queues: int  # runs in the window, every queue: the index entries a scan reads
    table: int  # runs the table holds


def _run_counts(*, since: datetime, queue: str) -> _RunCounts:
    """Runs that ended since then, from JobStat (no count of the runs table), but never more
    than the runs table holds (pruned jobs take their runs, not their stats); the table's size
    is the planner's estimate (pg_class.reltuples), -1 before its first ANALYZE."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT coalesce(sum(runs) FILTER (WHERE %s = '' OR queue = %s), 0),
                   coalesce(sum(runs), 0),
                   (SELECT reltuples FROM pg_class WHERE oid = 'jobs_jobattempt'::regclass)
            FROM jobs_jobstat WHERE bucket >= %s
            """,
            [queue, queue, since],
        )
        window, all_queues, table = cursor.fetchone()
    if table <= 0:
        table = all_queues
    table = max(int(table), 1)
    return _RunCounts(min(int(window), table), min(int(all_queues), table), table)


def _step_text(step: timedelta) -> str:
    minutes = int(step.total_seconds() // 60)
    return "hour" if minutes == 60 else f"{minutes} min"
