"""The per-minute job stats (jobs.JobStat): the ledger's triggers add deltas, the dispatcher
folds them (jobs.ledger.stats.compact) without losing a count."""

from datetime import timedelta

import pytest
from django.db.models import Max, Sum
from django.utils import timezone

from jobs import dispatcher
from jobs.ledger import stats
from jobs.models import Job, JobAttempt, JobStat, State
from tests.jobs.sample_jobs import GatedJob, RecordJob

pytestmark = pytest.mark.django_db

SUMMED = ("enqueued", "finished", "failed", "retried", "discarded", "runs", "wait_sum")


def totals(**filters) -> dict:
    rows = JobStat.objects.filter(**filters)
    figures = rows.aggregate(**{f: Sum(f) for f in SUMMED}, wait_max=Max("wait_max"))
    return {key: value or 0 for key, value in figures.items()}


def stat(bucket, *, queue="default", class_name="RecordJob", **counts) -> JobStat:
    return JobStat.objects.create(bucket=bucket, queue=queue, class_name=class_name, **counts)


def minute(ago: timedelta):
    return (timezone.now() - ago).replace(second=0, microsecond=0)


def run(job_id, *, state: State, waited: float = 0) -> None:
    """The job is claimed `waited` seconds after it was due, then ends in `state`."""
    now = timezone.now()
    Job.objects.filter(pk=job_id).update(
        state=State.CLAIMED,
        scheduled_at=now - timedelta(seconds=waited),
        claimed_at=now,
        attempts=1,
    )
    Job.objects.filter(pk=job_id).update(state=state, finished_at=now + timedelta(seconds=2))


def test_enqueues_and_outcomes_add_deltas_per_minute_queue_and_class():
    ids = [RecordJob.delay(f"s{i}").id for i in range(3)]
    failed = GatedJob.delay("s-fail", 1).id
    assert totals(class_name="RecordJob", queue="default")["enqueued"] == 3
    assert totals(class_name="GatedJob")["enqueued"] == 1

    run(ids[0], state=State.FINISHED, waited=4)
    run(ids[1], state=State.FINISHED, waited=10)
    run(failed, state=State.FAILED, waited=1)
    record = totals(class_name="RecordJob")
    assert (record["finished"], record["failed"], record["runs"]) == (2, 0, 2)
    assert record["wait_sum"] == pytest.approx(14, abs=0.01)
    assert record["wait_max"] == pytest.approx(10, abs=0.01)
    assert totals(class_name="GatedJob")["failed"] == 1
    # Each run is kept too, with its time and outcome.
    assert JobAttempt.objects.filter(job_id=ids[0], outcome="finished").count() == 1
    assert JobStat.objects.filter(bucket=minute(timedelta(0))).exists()


def test_compact_folds_settled_rows_per_minute_then_hour_then_day_keeping_every_sum():
    recent = minute(timedelta(seconds=0))
    ten_minutes = minute(timedelta(minutes=10))
    day_and_a_half = (timezone.now() - timedelta(hours=36)).replace(
        minute=0, second=0, microsecond=0
    )
    ten_days = (timezone.now() - timedelta(days=10)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    rows = [
        (recent, dict(enqueued=1)),  # may still get deltas: left alone
        (recent, dict(finished=1, runs=1, wait_sum=2, wait_max=2)),
        (ten_minutes, dict(enqueued=5)),  # one minute, three deltas → one row
        (ten_minutes, dict(finished=3, runs=4, wait_sum=6.5, wait_max=4)),
        (ten_minutes, dict(failed=1, retried=2)),
        (day_and_a_half + timedelta(minutes=5), dict(enqueued=7, runs=2, wait_max=9)),
        (day_and_a_half + timedelta(minutes=45), dict(finished=6, discarded=1, wait_max=3)),
        (ten_days + timedelta(hours=3), dict(enqueued=11, wait_sum=1.5)),
        (ten_days + timedelta(hours=20, minutes=7), dict(failed=4, wait_max=30)),
    ]
    for bucket, counts in rows:
        stat(bucket, **counts)
    stat(ten_minutes, queue="search", enqueued=2)  # another queue: its own row
    before = totals()

    removed, written = stats.compact()

    assert (removed, written) == (7, 3)
    assert totals() == before
    assert JobStat.objects.filter(bucket=recent).count() == 2
    folded = JobStat.objects.get(bucket=ten_minutes, queue="default")
    assert (folded.enqueued, folded.finished, folded.failed, folded.retried) == (5, 3, 1, 2)
    assert (folded.runs, folded.wait_sum, folded.wait_max) == (4, 6.5, 4)
    hour = JobStat.objects.get(bucket=day_and_a_half)
    assert (hour.enqueued, hour.finished, hour.discarded, hour.runs) == (7, 6, 1, 2)
    assert hour.wait_max == 9
    day = JobStat.objects.get(bucket=ten_days)
    assert (day.enqueued, day.failed, day.wait_sum, day.wait_max) == (11, 4, 1.5, 30)
    assert JobStat.objects.filter(bucket=ten_minutes, queue="search").get().enqueued == 2


def test_a_second_compaction_changes_nothing():
    old = minute(timedelta(hours=30))
    stat(old, enqueued=1)
    stat(old + timedelta(minutes=1), finished=1, runs=1)
    stats.compact()
    rows = sorted(JobStat.objects.values_list("bucket", "queue", "class_name", *SUMMED))
    assert stats.compact() == (0, 0)
    assert sorted(JobStat.objects.values_list("bucket", "queue", "class_name", *SUMMED)) == rows


def test_the_dispatcher_compacts_stats_about_once_a_minute():
    old = minute(timedelta(minutes=30))
    stat(old, enqueued=2)
    stat(old, finished=2, runs=2)
    loop = dispatcher.Dispatcher()
    loop.tick()
    assert JobStat.objects.filter(bucket=old).count() == 2  # not yet: a minute from its start
    loop.last_compact -= dispatcher.COMPACT_STATS_EVERY
    loop.tick()
    assert JobStat.objects.filter(bucket=old).count() == 1
    assert totals(bucket=old)["enqueued"] == 2 and totals(bucket=old)["finished"] == 2
