"""Enqueueing: ledger row in the caller's transaction, publish on commit, validation."""

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jobs.base import enqueue_all
from jobs.models import Job, State
from tests.forum.factories import UserFactory
from tests.jobs.helpers import queued_messages
from tests.jobs.sample_jobs import FlakyJob, RecordJob

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _empty_default_queue():
    from config.celery import app

    app.control.purge()


def test_enqueue_in_a_transaction_publishes_on_commit():
    with transaction.atomic():
        result = RecordJob.delay("commit", {"n": 1})
        job = Job.objects.get(pk=result.id)
        assert (job.state, job.class_name, job.queue) == (State.READY, "RecordJob", "default")
        assert (job.args, job.kwargs) == (["commit", {"n": 1}], {})
        assert queued_messages() == 0  # not before the commit
    assert queued_messages() == 1
    job.refresh_from_db()
    assert job.published_at is not None


def test_rolled_back_transaction_leaves_no_job_and_publishes_nothing():
    with pytest.raises(RuntimeError), transaction.atomic():
        RecordJob.delay("rollback")
        raise RuntimeError("the request failed")
    assert not Job.objects.exists()
    assert queued_messages() == 0


def test_countdown_and_eta_keep_the_job_out_of_redis():
    later = RecordJob.apply_async(["later"], countdown=2 * 3600)
    noon = timezone.now().replace(hour=12, minute=0, second=0, microsecond=0) + timedelta(days=1)
    tomorrow = RecordJob.apply_async(["noon"], eta=noon, queue="reports", priority=3)
    assert Job.objects.scheduled().count() == 2
    job = Job.objects.get(pk=later.id)
    assert timedelta(hours=1, minutes=59) < job.scheduled_at - timezone.now() <= timedelta(hours=2)
    job = Job.objects.get(pk=tomorrow.id)
    assert (job.scheduled_at, job.queue, job.priority) == (noon, "reports", 3)
    assert queued_messages("default") == queued_messages("reports") == 0


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("k",), {"payload": {"when": timezone.now()}}, "not JSON"),
        (({1, 2},), {}, "not JSON"),
        (("k", "too", "many"), {}, "too many positional arguments"),
        ((), {"nope": 1}, "missing a required argument"),
        (("k",), {"payload": {1: "x"}}, "keys in arguments must be strings"),
        (("k\x00",), {}, "NUL character"),
        (("k",), {"payload": {"deep": ["ok", "n\x00ul"]}}, "NUL character"),
    ],
)
def test_bad_arguments_raise_at_enqueue_and_write_nothing(args, kwargs, message):
    with pytest.raises(TypeError, match=message):
        RecordJob.apply_async(args, kwargs)
    assert not Job.objects.exists()
    assert queued_messages() == 0


def test_a_model_instance_is_refused_with_pass_the_id():
    user = UserFactory()
    with pytest.raises(TypeError, match=r"pass the id \(user.pk\)"):
        RecordJob.delay(user)
    assert not Job.objects.exists()


def test_unknown_queue_and_double_timing_are_refused():
    with pytest.raises(ValueError, match="Unknown queue 'emails'"):
        RecordJob.apply_async(["k"], queue="emails")
    with pytest.raises(ValueError, match="either countdown"):
        RecordJob.apply_async(["k"], countdown=5, eta=timezone.now())
    assert not Job.objects.exists()


def test_enqueue_all_writes_one_insert_and_publishes_every_job():
    signatures = [RecordJob.s(f"bulk-{i}") for i in range(100)]
    signatures.append(FlakyJob.s("bulk-flaky", 0).set(countdown=60))
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        results = enqueue_all(signatures)
    inserts = [q for q in queries.captured_queries if q["sql"].startswith("INSERT INTO jobs_job")]
    assert len(inserts) == 1
    assert len(results) == 101
    assert Job.objects.ready().count() == 100
    assert Job.objects.scheduled().count() == 1
    assert queued_messages() == 100


def test_retry_delay_grows_exponentially_with_bounded_jitter():
    delays = [FlakyJob.retry_delay(attempt, rand=0.0) for attempt in range(1, 5)]
    assert delays == [0.2, 0.4, 0.8, 1.6]
    assert FlakyJob.retry_delay(1, rand=1.0) == pytest.approx(0.25)
    assert RecordJob.retry_delay(30, rand=0.0) == RecordJob.retry_backoff_max


def test_calling_the_job_runs_it_inline_without_the_ledger():
    assert RecordJob("inline")["key"] == "inline"
    assert not Job.objects.exists()


def test_beat_entries_go_through_the_ledger():
    from celery.beat import ScheduleEntry, Scheduler

    import jobs.tasks  # noqa: F401 (beat imports every app's tasks at start)
    from config.celery import app

    entry = ScheduleEntry(
        name="prune",
        task="PruneJobsJob",
        kwargs={"older_than_days": 7},
        options={"headers": {"periodic_task_name": "prune"}},
        app=app,
    )
    scheduler = Scheduler(app=app, lazy=True)
    with app.producer_or_acquire() as producer:
        result = scheduler.apply_async(entry, producer=producer, advance=False)
    job = Job.objects.get(pk=result.id)
    assert (job.class_name, job.kwargs, job.state) == (
        "PruneJobsJob",
        {"older_than_days": 7},
        State.READY,
    )
    assert queued_messages() == 1
