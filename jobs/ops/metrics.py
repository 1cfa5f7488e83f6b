"""Prometheus metrics, read from PostgreSQL at scrape time.

Every number comes from the ledger and the trigger-kept counters (jobs.JobMetric; jobs
enqueued from the stats deltas, jobs.JobStat), so it is the same whichever web process answers
and however many workers run, and a counter never goes down when old rows are pruned. No query
reads the whole ledger: a handful of grouped queries over partial indexes and the folded stats
(see bench/dashboard.py for their time on 1,000,000 rows).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from django.db.models import Count, Sum
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from jobs.models import Job, JobMetric, JobStat, Process
from jobs.ops import selectors

EVENTS = {
    "finished": "Jobs that finished",
    "failed": "Jobs that failed (out of attempts, or an error not retried)",
    "discarded": "Jobs discarded (discard_on, concurrency conflict, or by an operator)",
    "retried": "Runs that ended in a retry, and failed jobs retried by an operator",
    "recovered": "Claimed jobs of dead processes made ready again",
}


class JobsCollector:
    """A prometheus_client collector: register it on a fresh CollectorRegistry per scrape."""

    def collect(self) -> Iterator[Metric]:
        counters: dict[tuple[str, str, str], int] = defaultdict(int)
        buckets: dict[str, dict[str, int]] = defaultdict(dict)
        sums: dict[str, int] = {}
        for name, class_name, queue, le, value in JobMetric.objects.values_list(
            "name", "class_name", "queue", "le", "value"
        ):
            if name == "duration":
                buckets[class_name][le] = value
            elif name == "duration_sum_us":
                sums[class_name] = value
            else:
                counters[(name, class_name, queue)] = value
        yield from self._counters(counters)
        yield self._durations(buckets, sums)
        yield from self._queues()
        yield from self._processes()

    def _counters(self, counters: dict[tuple[str, str, str], int]) -> Iterator[Metric]:
        enqueued = CounterMetricFamily(
            "naija_jobs_enqueued",
            "Jobs enqueued (every ledger row ever inserted, pruned or not)",
            labels=["job_class", "queue"],
        )
        rows = (
            JobStat.objects.order_by()
            .values_list("class_name", "queue")
            .annotate(n=Sum("enqueued"))
            .filter(n__gt=0)
        )
        for class_name, queue, n in sorted(rows):
            enqueued.add_metric([class_name, queue], n)
        yield enqueued
        for event, help_text in EVENTS.items():
            family = CounterMetricFamily(
                f"naija_jobs_{event}", help_text, labels=["job_class", "queue"]
            )
            for (name, class_name, queue), value in sorted(counters.items()):
                if name == event:
                    family.add_metric([class_name, queue], value)
            yield family

    def _durations(self, buckets: dict[str, dict[str, int]], sums: dict[str, int]) -> Metric:
        family = HistogramMetricFamily(
            "naija_job_duration_seconds",
            "Run time of finished and failed runs",
            labels=["job_class"],
        )
        for class_name, counts in sorted(buckets.items()):
            bounds = sorted((b for b in counts if b != "+Inf"), key=float) + ["+Inf"]
            cumulative, running = [], 0
            for bound in bounds:
                running += counts.get(bound, 0)
                cumulative.append((bound, running))
            family.add_metric(
                [class_name], cumulative, sum_value=sums.get(class_name, 0) / 1_000_000
            )
        return family

    def _queues(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily("naija_jobs_queue_depth", "Ready jobs", labels=["queue"])
        latency = GaugeMetricFamily(
            "naija_jobs_queue_latency_seconds", "Age of the oldest ready job", labels=["queue"]
        )
        paused = GaugeMetricFamily("naija_jobs_queue_paused", "1 if paused", labels=["queue"])
        for queue in selectors.queue_snapshot():
            depth.add_metric([queue.name], queue.ready)
            latency.add_metric([queue.name], queue.latency or 0)
            paused.add_metric([queue.name], int(queue.paused))
        yield from (depth, latency, paused)

        by_state = GaugeMetricFamily(
            "naija_jobs_waiting",
            "Jobs scheduled, blocked or claimed now",
            labels=["state", "job_class"],
        )
        # One query per state, each on its partial index: `state IN (…)` is a scan of the ledger.
        for state in ("blocked", "claimed", "scheduled"):
            rows = (
                Job.objects.filter(state=state)
                .order_by()
                .values_list("class_name")
                .annotate(Count("id"))
            )
            for class_name, n in sorted(rows):
                by_state.add_metric([state, class_name], n)
        yield by_state

    def _processes(self) -> Iterator[Metric]:
        age = GaugeMetricFamily(
            "naija_jobs_process_heartbeat_age_seconds",
            "Seconds since each process's last heartbeat (beat: its last scheduler tick)",
            labels=["kind", "name", "pid"],
        )
        live = GaugeMetricFamily(
            "naija_jobs_live_processes", "Processes with a fresh heartbeat", labels=["kind"]
        )
        fresh: dict[str, int] = defaultdict(int)
        newest: dict[str, float] = {}  # kind → age of its freshest heartbeat
        snapshot = selectors.process_snapshot()
        for row in sorted(snapshot, key=lambda r: (r.process.kind, r.process.name, r.process.pid)):
            process = row.process
            age.add_metric([process.kind, process.name, str(process.pid)], row.age)
            newest[process.kind] = min(row.age, newest.get(process.kind, float("inf")))
            if not row.stale:
                fresh[process.kind] += 1
        for kind in Process.Kind.values:
            live.add_metric([kind], fresh[kind])
        yield from (age, live)
        last_tick = GaugeMetricFamily(
            "naija_jobs_last_tick_age_seconds",
            "Seconds since the freshest dispatcher or beat heartbeat (+Inf: none running)",
            labels=["kind"],
        )
        for kind in ("dispatcher", "beat"):
            last_tick.add_metric([kind], newest.get(kind, float("inf")))
        yield last_tick
