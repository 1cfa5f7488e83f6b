"""Running jobs through a real worker and dispatcher: claim, retry, discard, fail, adopt."""

import json
import uuid

import pytest
from django.utils import timezone
from django_celery_results.models import TaskResult

from config.celery import app
from jobs.base import publish
from jobs.models import Job, State
from tests.forum.factories import UserFactory
from tests.jobs.helpers import wait_for_state
from tests.jobs.sample_jobs import FlakyJob, GatedJob, RecordJob, UserNameJob, allow, runs

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker_and_dispatcher(processes):
    processes.worker()
    processes.dispatcher()
    return processes


def test_job_runs_once_and_its_result_is_stored(celery_worker):
    key = uuid.uuid4().hex
    result = RecordJob.delay(key, {"board": "politics"})
    job = wait_for_state(result.id, State.FINISHED)
    assert (job.attempts, job.worker) == (1, celery_worker.hostname)
    assert job.claimed_at <= job.finished_at
    assert result.get(timeout=10) == {"key": key, "run": 1, "payload": {"board": "politics"}}
    stored = TaskResult.objects.get(task_id=result.id)
    assert (stored.status, stored.task_name, stored.worker) == ("SUCCESS", "RecordJob", job.worker)
    assert runs(key) == 1


def test_duplicate_messages_and_redelivery_of_a_finished_job_run_nothing(celery_worker):
    key = uuid.uuid4().hex
    result = RecordJob.delay(key)
    wait_for_state(result.id, State.FINISHED)
    job = Job.objects.get(pk=result.id)
    publish([job, job])  # a duplicate delivery, twice
    marker = RecordJob.delay(uuid.uuid4().hex)  # the worker is serial: once this ran, so did they
    wait_for_state(marker.id, State.FINISHED)
    assert runs(key) == 1
    assert TaskResult.objects.get(task_id=result.id).result == json.dumps(
        {"key": key, "run": 1, "payload": None}
    )


def test_retry_on_schedules_backoff_in_the_ledger_then_succeeds(worker_and_dispatcher):
    key = uuid.uuid4().hex
    result = FlakyJob.delay(key, 2)
    job = wait_for_state(result.id, State.FINISHED)
    assert job.attempts == 3
    assert runs(key) == 3
    assert TaskResult.objects.get(task_id=result.id).status == "SUCCESS"


def test_retries_exhausted_the_job_fails_with_error_and_traceback(worker_and_dispatcher):
    key = uuid.uuid4().hex
    result = FlakyJob.delay(key, 10)
    job = wait_for_state(result.id, State.FAILED)
    assert (job.attempts, runs(key)) == (4, 4)
    assert job.error_class == "ConnectionError"
    assert job.error_message == "SMTP server unreachable (run 4)"
    assert "Traceback" in job.error_traceback and "raise ConnectionError" in job.error_traceback
    stored = TaskResult.objects.get(task_id=result.id)
    assert stored.status == "FAILURE" and "raise ConnectionError" in stored.traceback


def test_discard_on_missing_record_stores_the_reason(celery_worker):
    result = UserNameJob.delay(987654321)
    job = wait_for_state(result.id, State.DISCARDED)
    assert job.error_class == "DoesNotExist"
    assert "matching query does not exist" in job.error_message
    assert job.attempts == 1
    assert TaskResult.objects.get(task_id=result.id).status == "REJECTED"
    user = UserFactory(username="still-here")
    assert wait_for_state(UserNameJob.delay(user.pk).id, State.FINISHED)


def test_failed_job_retried_runs_again_with_the_same_arguments(worker_and_dispatcher):
    key = uuid.uuid4().hex
    result = GatedJob.delay(key, 42)
    job = wait_for_state(result.id, State.FAILED)
    assert job.error_message == f"report {key} of size 42 is not allowed yet"
    allow(key)
    assert Job.objects.failed().filter(class_name="GatedJob", pk=job.pk).retry() == 1
    job = wait_for_state(result.id, State.FINISHED)
    assert (job.args, job.attempts, job.error_class) == ([key, 42], 1, "")
    assert result.get(timeout=10) == 42
    assert runs(key) == 2


def test_due_scheduled_job_is_published_by_the_dispatcher(worker_and_dispatcher):
    key = uuid.uuid4().hex
    result = RecordJob.apply_async([key], countdown=2 * 3600)
    Job.objects.filter(pk=result.id).update(scheduled_at=timezone.now())
    wait_for_state(result.id, State.FINISHED)
    assert runs(key) == 1


def test_messages_without_a_ledger_row_are_adopted(celery_worker):
    key = uuid.uuid4().hex
    sent = app.send_task("RecordJob", args=[key], queue="default")  # as beat, celery call, Flower
    job = wait_for_state(sent.id, State.FINISHED)
    assert (job.class_name, job.args, job.attempts) == ("RecordJob", [key], 1)
    assert runs(key) == 1


def test_jobs_survive_their_database_connections_being_cut(celery_worker):
    from django.db import connection

    user = UserFactory(username="before-the-cut")
    assert wait_for_state(UserNameJob.delay(user.pk).id, State.FINISHED)
    with connection.cursor() as cursor:  # as a PostgreSQL restart would: every other backend
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    result = UserNameJob.delay(user.pk)
    job = wait_for_state(result.id, State.FINISHED, State.FAILED)
    assert (job.state, job.error_message) == (State.FINISHED, "")
    assert result.get(timeout=10) == "before-the-cut"
