"""The ledger and results in Django admin, with retry and discard actions."""

import pytest
from django.utils import timezone

from jobs.models import Job, State
from tests.forum.factories import UserFactory
from tests.jobs.sample_jobs import GatedJob

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def failed_job() -> Job:
    job = Job.objects.get(pk=GatedJob.apply_async(["k", 7], countdown=60).id)
    Job.objects.filter(pk=job.pk).update(
        state=State.FAILED,
        error_class="ValueError",
        error_message="boom",
        finished_at=timezone.now(),
    )
    return job


def test_jobs_and_task_results_are_listed_and_shown(admin_client):
    job = failed_job()
    listing = admin_client.get("/admin/jobs/job/?state__exact=failed").content.decode()
    assert str(job.pk) in listing and "ValueError" in listing
    detail = admin_client.get(f"/admin/jobs/job/{job.pk}/change/").content.decode()
    assert "boom" in detail
    assert admin_client.get("/admin/django_celery_results/taskresult/").status_code == 200
    assert admin_client.get("/admin/django_celery_beat/periodictask/").status_code == 200


def test_admin_retry_and_discard_actions(admin_client):
    retried, discarded = failed_job(), failed_job()
    admin_client.post(
        "/admin/jobs/job/", {"action": "retry_jobs", "_selected_action": [retried.pk]}
    )
    admin_client.post(
        "/admin/jobs/job/", {"action": "discard_jobs", "_selected_action": [discarded.pk]}
    )
    retried.refresh_from_db()
    discarded.refresh_from_db()
    assert (retried.state, retried.error_class) == (State.SCHEDULED, "")
    assert discarded.state == State.DISCARDED
    assert "in admin" in discarded.error_message


def test_members_cannot_see_jobs(client):
    client.force_login(UserFactory())
    assert client.get("/admin/jobs/job/").status_code == 302


def test_saving_a_job_in_admin_writes_nothing(admin_client):
    """Every field of a job is read-only in admin, and only the ledger changes job rows: the
    change form's Save must not rewrite the row (it would put back the state it read over a
    worker's concurrent claim or outcome)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    job = failed_job()
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.post(f"/admin/jobs/job/{job.pk}/change/", {"_save": "Save"})
    assert response.status_code == 302
    writes = [q["sql"] for q in queries if q["sql"].lstrip().startswith('UPDATE "jobs_job"')]
    assert writes == []
    assert Job.objects.get(pk=job.pk).state == State.FAILED
